#!/usr/bin/env python3
"""Runs a live scenario several times, quiet or beside a CPU-bound process, and tables its story.

    scripts/live-repeat.py scenarios/airtame-2020-02-08-live.yaml --runs 5
    scripts/live-repeat.py scenarios/airtame-2020-02-08-live.yaml --runs 5 --hog
    scripts/live-repeat.py scenarios/airtame-2020-02-08-live.yaml --runs 2 --set fleet.friday-adds.count=0

Each run is `fleetsim run FILE --out DIR -q` (the release binary). `--hog` starts one CPU-bound
process at normal priority for the length of each run. Per run: the first time of each phase of
the 2020 story (db_saturated, timeouts, backend_crash, fleet_collapse, the timeline's actions,
recovered), crashes, the lowest online fraction, and the database's real scan time (at start
and the run's mean) against its stated cost. Exit 1 when a run misses a phase it was asked to
`--expect` (or shows one it was asked to `--forbid`).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

PHASES = ["db_saturated", "timeouts", "backend_crash", "fleet_collapse", "timeline", "recovered"]


def clock(seconds):
    if seconds is None:
        return "—"
    m = int(round(seconds / 60))
    return f"{m // 60}h{m % 60:02d}m"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("scenario")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--hog", action="store_true", help="one CPU-bound process beside each run")
    p.add_argument("--set", action="append", default=[], help="passed to fleetsim run")
    p.add_argument("--binary", default=".build/release/fleetsim")
    p.add_argument("--expect", default="", help="comma-separated phases every run must show")
    p.add_argument("--forbid", default="", help="comma-separated phases no run may show")
    p.add_argument("--keep", help="keep the runs' folders here")
    a = p.parse_args()

    expect = [x for x in a.expect.split(",") if x]
    forbid = [x for x in a.forbid.split(",") if x]
    root = a.keep or tempfile.mkdtemp(prefix="fleetsim-repeat-")
    print(f"| run | load avg | db_saturated | timeouts | first crash | collapse | block | recovered | crashes | online min | scan real (start / mean) | stated | slower | wall |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    for i in range(a.runs):
        out = os.path.join(root, f"run-{i + 1}")
        hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if a.hog else None
        load = os.getloadavg()[0]
        start = time.time()
        args = [a.binary, "run", a.scenario, "--out", out, "-q"]
        for s in a.set:
            args += ["--set", s]
        r = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.time() - start
        if hog:
            hog.kill()
            hog.wait()
        try:
            report = json.load(open(os.path.join(out, "report.json")))
        except OSError:
            print(f"| {i + 1} | run failed (exit {r.returncode}): {r.stderr.strip()[:200]} |")
            failed = True
            continue
        first = {}
        for m in report["milestones"]:
            first.setdefault(m["kind"], m["t_s"])
        db = report.get("database") or {}
        scan = next((q for q in db.get("queries", []) if q["kind"] == "scan"), {})
        s = report["summary"]
        cells = [str(i + 1), f"{load:.1f}", clock(first.get("db_saturated")), clock(first.get("timeouts")),
                 clock(first.get("backend_crash")), clock(first.get("fleet_collapse")), clock(first.get("timeline")),
                 clock(first.get("recovered")), str(s["backend_crashes"]), f"{s['online_fraction_min'] * 100:.1f}%",
                 f"{scan.get('probe_ms') or 0:.1f} / {scan.get('real_ms_mean') or 0:.1f} ms",
                 f"{scan.get('stated_ms') or 0:.1f} ms", str(scan.get("slower", 0)), f"{wall:.0f} s"]
        print("| " + " | ".join(cells) + " |", flush=True)
        missing = [x for x in expect if x not in first]
        shown = [x for x in forbid if x in first]
        if missing or shown or r.returncode not in (0, 1):
            failed = True
            print(f"  run {i + 1}: exit {r.returncode}; missing {missing}; shown {shown}; {out}", flush=True)
    print(f"\nfolders: {root}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
