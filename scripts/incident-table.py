#!/usr/bin/env python3
"""Writes the incidents tables of scenarios/incidents/README.md from reports.

Every incident scenario (scenarios/incidents/*.yaml, plus the 2020-02-08 replay and its
trigger-removed probe) is simulated twice with `fleetsim simulate`: as written (the incident's
own reconnect behaviour) and with the `--set` overrides its `x-hardened:` list names (full
jitter plus admission control). The table is computed from the two report.json files and
written between the markers of the README; nothing in it is typed by hand.

With --live, every scenario that has an `x-live:` list is also run live (`fleetsim run`, real
WebSockets against the embedded backend on loopback), as written and hardened, with the
`x-live:` overrides (a smaller fleet, spread joins, a time scale) after the others and, for
the hardened row, the `x-live-hardened:` ones last; the live table is written between its own
markers, each figure with the same run simulated beside it in parentheses. Live figures are
measured, not computed: they vary from run to run and with the machine's load, so --check
compares only the simulated table, and a run without --live leaves the live table as it is.

Usage: scripts/incident-table.py [--fleetsim PATH] [--check | --live [--keep DIR [--reuse]]]
  --fleetsim  the binary (default: .build/release/fleetsim; build it with
              `swift build -c release --product fleetsim`)
  --check     exit 1 if the README's simulated table is not what the reports give (writes
              nothing, runs nothing live)
  --live      also run the live rows (each run at most a few minutes of wall time, under
              `nice -n 10`; about 25 minutes in all)
  --keep      with --live: keep each live run's folder (report.html, series.jsonl, backend.log)
              in DIR, named after the scenario (`-hardened` for the hardened row)
  --reuse     with --keep: take the live runs already kept in DIR instead of running them
              again (delete a row's folder to run that row again; the simulated figures
              beside them are always computed afresh)
"""
import argparse
import glob
import json
import os
import re
import subprocess
import sys
import shutil
import signal
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "scenarios", "incidents", "README.md")
BEGIN = "<!-- incident-table:begin (scripts/incident-table.py writes this; do not edit) -->"
END = "<!-- incident-table:end -->"
LIVE_BEGIN = "<!-- incident-table-live:begin (scripts/incident-table.py --live writes this; do not edit) -->"
LIVE_END = "<!-- incident-table-live:end -->"


def scenarios():
    files = [os.path.join(ROOT, "scenarios", "airtame-2020-02-08.yaml"),
             os.path.join(ROOT, "scenarios", "airtame-2020-02-08-trigger-removed.yaml")]
    return files + sorted(glob.glob(os.path.join(ROOT, "scenarios", "incidents", "*.yaml")))


def overrides(text, key):
    """The top-level `key:` list of --set overrides (x- keys, which the loader ignores), or None."""
    block = re.search(rf"^{key}:\s*\n((?:[ \t]+-.*\n?)+)", text, re.M)
    if not block:
        return None
    return [line.strip()[1:].strip() for line in block.group(1).splitlines() if line.strip().startswith("-")]


def metadata(path):
    """The `x-incident:` title, the `x-hardened:` overrides, and the `x-live:` and
    `x-live-hardened:` ones (None when the scenario has no live row)."""
    text = open(path, encoding="utf-8").read()
    title = re.search(r'^x-incident:\s*"(.*)"\s*$', text, re.M)
    hardened = overrides(text, "x-hardened")
    if not title or hardened is None:
        sys.exit(f"{os.path.relpath(path, ROOT)}: needs an x-incident: title and an x-hardened: list")
    return title.group(1), hardened, overrides(text, "x-live"), overrides(text, "x-live-hardened") or []


def simulate(fleetsim, path, overrides, folder):
    command = ["nice", "-n", "10", fleetsim, "simulate", path, "--out", folder, "--quiet"]
    for o in overrides:
        command += ["--set", o]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode not in (0, 1):   # 1: a threshold failed; the report is there
        sys.exit(f"{' '.join(command)} failed ({run.returncode}): {run.stderr.strip()}")
    with open(os.path.join(folder, "report.json"), encoding="utf-8") as f:
        return json.load(f)


def run_live(fleetsim, path, overrides, folder, wall_limit):
    """`fleetsim run` (embedded backend, loopback); the report, the exit status and the wall time.
    A run still going after `wall_limit` seconds is stopped with SIGTERM, which still writes the
    report of what was measured (exit 3)."""
    shutil.rmtree(folder, ignore_errors=True)   # never read an earlier run's report
    command = ["nice", "-n", "10", fleetsim, "run", path, "--out", folder, "--quiet"]
    for o in overrides:
        command += ["--set", o]
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _, stderr = process.communicate(timeout=wall_limit)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    except BaseException:
        process.send_signal(signal.SIGTERM)   # Ctrl-C: the run stops its devices and its backend
        process.wait(timeout=60)
        raise
    wall = time.monotonic() - started
    report_path = os.path.join(folder, "report.json")
    if process.returncode not in (0, 1, 3) or not os.path.exists(report_path):
        sys.exit(f"{' '.join(command)} failed ({process.returncode}): {stderr.strip()}")
    with open(report_path, encoding="utf-8") as f:
        return json.load(f), process.returncode, wall


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
            title, hardened, _, _ = metadata(path)
            name = os.path.relpath(path, os.path.dirname(README))
            for label, overrides in (("as in the incident", []), ("full jitter + admission", hardened)):
                report = simulate(fleetsim, path, overrides, os.path.join(tmp, f"{i}-{len(overrides)}"))
                first = f"{title}" if not overrides else ""
                link = f"[{os.path.basename(path)}]({name})" if not overrides else ""
                rows.append("| " + " | ".join([first, link, label] + cells(report)) + " |")
                print(f"{os.path.basename(path)} ({label}): done", file=sys.stderr)
    return header + "\n".join(rows) + "\n"


def setting(overrides, key, default):
    """The value the last `key=value` of a list of overrides gives, else `default`."""
    values = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == key]
    return values[-1] if values else default


def seconds(text):
    """A scenario duration such as `2h30m` or `45s`, in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+(?:\.\d+)?)([hms])", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        sys.exit(f"x-live: duration {text!r}: write it as hours, minutes and seconds (2h30m)")
    return sum(float(n) * units[u] for n, u in parts)


def live_table(fleetsim, keep, reuse):
    header = ("| incident | scenario | reconnect | live run | min online | back to 95% | retry amplification | "
              "peak reconnects | crashes | counted besides |\n|---|---|---|---|---|---|---|---|---|---|\n")
    # Each figure live, and in parentheses simulated with the same overrides: what the model
    # predicts for this fleet, this run's length and this backend, so that a difference between
    # the two is the live run's, not the smaller fleet's.
    rows = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        folder = keep or tmp
        for i, path in enumerate(scenarios()):
            title, hardened, live, live_hardened = metadata(path)
            if live is None:
                continue
            name = os.path.relpath(path, os.path.dirname(README))
            for label, extra in (("as in the incident", live), ("full jitter + admission", hardened + live + live_hardened)):
                scale = float(setting(extra, "time_scale", "1"))
                limit = seconds(setting(extra, "duration", "0s")) / scale + 90
                out = os.path.join(folder, os.path.basename(path)[:-5] + ("" if extra is live else "-hardened"))
                measured = os.path.join(out, "incident-table.json")   # how the run went, for --reuse
                if reuse and os.path.exists(measured):
                    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
                        report = json.load(f)
                    with open(measured, encoding="utf-8") as f:
                        m = json.load(f)
                else:
                    load = os.getloadavg()[0]
                    report, status, wall = run_live(fleetsim, path, extra, out, limit)
                    m = {"status": status, "wall_s": wall, "load_start": load, "load_end": os.getloadavg()[0]}
                    with open(measured, "w", encoding="utf-8") as f:
                        json.dump(m, f)
                s = report["summary"]
                run = (f"{s['devices']:,} devices, ×{scale:g}, {duration(s['duration_s'])}; {m['wall_s']:.0f} s wall, "
                       f"load {m['load_start']:.1f}→{m['load_end']:.1f}"
                       + ("" if m["status"] in (0, 1) else f"; stopped, exit {m['status']}"))
                first = title if extra is live else ""
                link = f"[{os.path.basename(path)}]({name})" if extra is live else ""
                simulated = simulate(fleetsim, path, extra, out + "-simulated")
                figures = [f"{a} ({b})" for a, b in zip(cells(report), cells(simulated))]
                rows.append("| " + " | ".join([first, link, label, run] + figures) + " |")
                print(f"{os.path.basename(path)} ({label}, live): {m['wall_s']:.0f} s", file=sys.stderr)
    print(f"live rows: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return header + "\n".join(rows) + "\n"


def between(text, begin, end):
    """The text before `begin`, and after `end`."""
    if begin not in text or end not in text:
        sys.exit(f"{os.path.relpath(README, ROOT)}: the markers {begin!r} and {end!r} are missing")
    before, rest = text.split(begin, 1)
    _, after = rest.split(end, 1)
    return before, after


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleetsim", default=os.path.join(ROOT, ".build", "release", "fleetsim"))
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--live", action="store_true")
    parser.add_argument("--keep", metavar="DIR", help="with --live: keep each live run's folder (report.html, series.jsonl) in DIR")
    parser.add_argument("--reuse", action="store_true", help="with --keep: use the runs already in DIR, run only the missing ones")
    args = parser.parse_args()
    if args.reuse and not (args.live and args.keep):
        parser.error("--reuse needs --live and --keep DIR")
    text = open(README, encoding="utf-8").read()
    between(text, BEGIN, END)
    between(text, LIVE_BEGIN, LIVE_END)
    simulated = table(args.fleetsim)
    live = live_table(args.fleetsim, args.keep and os.path.abspath(args.keep), args.reuse) if args.live else None
    text = open(README, encoding="utf-8").read()   # again: the live rows take a while, the README may have changed
    before, after = between(text, BEGIN, END)
    updated = before + BEGIN + "\n" + simulated + END + after
    if live is not None:
        before, after = between(updated, LIVE_BEGIN, LIVE_END)
        updated = before + LIVE_BEGIN + "\n" + live + LIVE_END + after
    if args.check:
        sys.exit(0 if updated == text else "the incidents table differs from the reports: run scripts/incident-table.py")
    with open(README, "w", encoding="utf-8") as f:
        f.write(updated)


if __name__ == "__main__":
    main()
