#!/usr/bin/env python3
"""Runs `fleetsim run` on the benchmark fleet against a target and measures, from /proc, the
process's memory per device and CPU per heartbeat; the connect rate comes from the report's series.

    measure.py FLEETSIM TARGET_URL [fleet.yaml] [--set path=value ...]
"""
import json, os, subprocess, sys, tempfile, time

fleetsim, target = sys.argv[1], sys.argv[2]
scenario = sys.argv[3] if len(sys.argv) > 3 else os.path.join(os.path.dirname(__file__), "fleet.yaml")
extra = sys.argv[4:]
out = tempfile.mkdtemp(prefix="fleetsim-live-bench-")
tick = os.sysconf("SC_CLK_TCK")

def status(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.split()
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read().rsplit(")", 1)[1].split()
    cpu = (int(stat[11]) + int(stat[12])) / tick  # utime + stime
    return int(fields["VmRSS"][0]) * 1024, int(fields["VmHWM"][0]) * 1024, cpu

start = time.monotonic()
p = subprocess.Popen([fleetsim, "run", scenario, "--target", target, "--out", out, "-q"] + extra,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
samples = []  # (seconds since start, rss, peak, cpu)
while p.poll() is None:
    try:
        rss, peak, cpu = status(p.pid)
        samples.append((time.monotonic() - start, rss, peak, cpu))
    except (FileNotFoundError, ProcessLookupError, IndexError, KeyError):  # gone, or a zombie
        pass
    time.sleep(0.05)
err = p.stderr.read().decode()
if p.returncode != 0:
    sys.exit(f"fleetsim run exited {p.returncode}: {err.strip()}")

report = json.load(open(os.path.join(out, "report.json")))
series, summary = report["series"], report["summary"]
devices = summary["devices"]
t, online = series["t_s"], series["online"]
# The process starts its scenario clock a moment after exec; the joins begin at scenario t = 5 s.
join_at = 5.0
first_full = next((ti for ti, o in zip(t, online) if o >= devices), None)
# Memory: RSS just before the first connect (the last sample before the joins), peak while holding.
before = [s for s in samples if s[0] < join_at - 0.3]
baseline = before[-1][1]
peak = max(s[2] for s in samples)
# CPU per heartbeat: a window of steady holding, well after the joins, before the closing.
lo, hi = join_at + 25.0, samples[-1][0] - 8.0
window = [s for s in samples if lo <= s[0] <= hi]
cpu = window[-1][3] - window[0][3]
seconds = window[-1][0] - window[0][0]
heartbeats = devices * seconds / 30.0
print(f"devices {devices}, connects {summary['connects']}, ack timeouts {summary['ack_timeouts']}, "
      f"handshake timeouts {summary['handshake_timeouts']}, online at the end {summary['online_fraction_final']:.4f}")
if first_full is not None:
    ramp = first_full - join_at
    print(f"all {devices} online {ramp:.1f} s after the joins began: >= {devices / ramp:,.0f} connects/s "
          f"(to the interval's resolution, {report['series'].get('interval_s', '?')} s; joins asked for 7,500/s)")
else:
    print("not every device came online")
print(f"memory: {(peak - baseline) / devices / 1024:.2f} KiB per device (peak RSS {peak / 2**20:.1f} MiB - "
      f"{baseline / 2**20:.1f} MiB before the first connect)")
print(f"cpu: {cpu / heartbeats * 1e6:.1f} us of client CPU per heartbeat round trip "
      f"({cpu:.2f} s over {seconds:.0f} s holding, {heartbeats:,.0f} heartbeats)")
print(f"report: {out}/report.json")
