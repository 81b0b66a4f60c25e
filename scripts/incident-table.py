#!/usr/bin/env python3
"""Writes the incidents table of scenarios/incidents/README.md from simulated reports.

Every incident scenario (scenarios/incidents/*.yaml, plus the 2020-02-08 replay and its
trigger-removed probe) is simulated twice with `fleetsim simulate`: as written (the incident's
own reconnect behaviour) and with the `--set` overrides its `x-hardened:` list names (full
jitter plus admission control). The table is computed from the two report.json files and
written between the markers of the README; nothing in it is typed by hand.

Usage: scripts/incident-table.py [--fleetsim PATH] [--check]
  --fleetsim  the binary (default: .build/release/fleetsim; build it with
              `swift build -c release --product fleetsim`)
  --check     exit 1 if the README's table is not what the reports give (writes nothing)
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "scenarios", "incidents", "README.md")
BEGIN = "<!-- incident-table:begin (scripts/incident-table.py writes this; do not edit) -->"
END = "<!-- incident-table:end -->"


def scenarios():
    files = [os.path.join(ROOT, "scenarios", "airtame-2020-02-08.yaml"),
             os.path.join(ROOT, "scenarios", "airtame-2020-02-08-trigger-removed.yaml")]
    return files + sorted(glob.glob(os.path.join(ROOT, "scenarios", "incidents", "*.yaml")))


def metadata(path):
    """The `x-incident:` title and the `x-hardened:` list of --set overrides (keys the loader ignores)."""
    text = open(path, encoding="utf-8").read()
    title = re.search(r'^x-incident:\s*"(.*)"\s*$', text, re.M)
    block = re.search(r"^x-hardened:\s*\n((?:[ \t]+-.*\n?)+)", text, re.M)
    if not title or not block:
        sys.exit(f"{os.path.relpath(path, ROOT)}: needs an x-incident: title and an x-hardened: list")
    overrides = [line.strip()[1:].strip() for line in block.group(1).splitlines() if line.strip().startswith("-")]
    return title.group(1), overrides


def simulate(fleetsim, path, overrides, folder):
    command = ["nice", "-n", "10", fleetsim, "simulate", path, "--out", folder, "--quiet"]
    for o in overrides:
        command += ["--set", o]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode not in (0, 1):   # 1: a threshold failed; the report is there
        sys.exit(f"{' '.join(command)} failed ({run.returncode}): {run.stderr.strip()}")
    with open(os.path.join(folder, "report.json"), encoding="utf-8") as f:
        return json.load(f)


def back_to_95(report):
    """From the first interval below 95% online to the first from which the fleet stays at or
    above 95% to the end ("never" if it does not); None if it never went below."""
    s = report["series"]
    fractions = [o / e if e else 1.0 for o, e in zip(s["online"], s["eligible"])]
    start = next((i for i, f in enumerate(fractions) if f >= 0.95), None)
    if start is None:
        return "never"
    below = [i for i in range(start, len(fractions)) if fractions[i] < 0.95]
    if not below:
        return None
    if below[-1] == len(fractions) - 1:
        return "never"
    return s["t_s"][below[-1] + 1] - s["t_s"][below[0] - 1 if below[0] > 0 else 0]


def duration(seconds):
    if seconds is None:
        return "—"
    if isinstance(seconds, str):
        return seconds
    m = int(round(seconds / 60))
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m"


def other(report):
    s = report["summary"]
    parts = [(s.get("rejects", 0), "rejects"), (s.get("handshake_timeouts", 0), "handshake t/o"),
             (s.get("ack_timeouts", 0), "ack t/o"), (s.get("dns_failures", 0), "DNS failures"),
             (s.get("feature_errors", 0), "feature errors")]
    text = ", ".join(f"{n:,} {name}" for n, name in parts if n)
    return text or "none"


def cells(report):
    s, st = report["summary"], report["storm"]
    amp = st.get("retry_amplification")
    return [f"{100 * s['online_fraction_min']:.1f}%", duration(back_to_95(report)),
            "—" if amp is None else f"{amp:.2f}", f"{st['peak_reconnect_rate_per_s']:.0f}/s",
            str(s["backend_crashes"]), other(report)]


def table(fleetsim):
    header = ("| incident | scenario | reconnect | min online | back to 95% | retry amplification | "
              "peak reconnects | crashes | counted besides |\n|---|---|---|---|---|---|---|---|---|\n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, path in enumerate(scenarios()):
            title, hardened = metadata(path)
            name = os.path.relpath(path, os.path.dirname(README))
            for label, overrides in (("as in the incident", []), ("full jitter + admission", hardened)):
                report = simulate(fleetsim, path, overrides, os.path.join(tmp, f"{i}-{len(overrides)}"))
                first = f"{title}" if not overrides else ""
                link = f"[{os.path.basename(path)}]({name})" if not overrides else ""
                rows.append("| " + " | ".join([first, link, label] + cells(report)) + " |")
                print(f"{os.path.basename(path)} ({label}): done", file=sys.stderr)
    return header + "\n".join(rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleetsim", default=os.path.join(ROOT, ".build", "release", "fleetsim"))
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    text = open(README, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        sys.exit(f"{os.path.relpath(README, ROOT)}: the markers {BEGIN!r} and {END!r} are missing")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    updated = before + BEGIN + "\n" + table(args.fleetsim) + END + after
    if args.check:
        sys.exit(0 if updated == text else "the incidents table differs from the reports: run scripts/incident-table.py")
    with open(README, "w", encoding="utf-8") as f:
        f.write(updated)


if __name__ == "__main__":
    main()
