import DeviceModel
/// Scenarios, the simulation engine and the runners: see DESIGN.md.
public enum FleetSimModule {}
