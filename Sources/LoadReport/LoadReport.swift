/// Recording and reporting: see DESIGN.md.
public enum LoadReportModule {}
