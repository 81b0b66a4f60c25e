#!/usr/bin/env python3
"""The largest fleet the embedded backend and the fleet hold together on this machine.

Runs `fleetsim run scenarios/fleet-60k-live.yaml` (local shards: the fleet split over as many
`fleetsim run` processes as the descriptor limit needs, against one embedded backend) with the
fleet, the gateways (one per 10,000 devices) and the table scaled to N devices, and samples every
fleetsim process from /proc every 2 s: peak RSS per role (shard, backend gateway, parent) and CPU
seconds per role over the whole run. The scenario's thresholds are the gate: every device back
online by the end, no heartbeat-ack timeout, the gateway failure seen, 95% back within 90 s.

    python3 Benchmarks/LiveRun/localshards.py 60000 100000     # after swift build -c release

Loopback only; each run takes about 6.5 minutes and stops by itself (a 15-minute bound).
"""
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY = os.path.join(ROOT, ".build", "release", "fleetsim")
TICK = os.sysconf("SC_CLK_TCK")


def fleetsim_processes():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f"/proc/{pid}/cmdline").read().split("\0")
            if not cmd or not cmd[0].endswith("fleetsim"):
                continue
            role = "shard" if "--local-shard" in cmd else ("backend" if "backend" in cmd[1:2] else "parent")
            rss = int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1]) * 1024
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / TICK
            out[pid] = (role, rss, cpu)
        except (OSError, StopIteration, ValueError, IndexError):
            pass
    return out


def run(devices):
    gateways = max(1, (devices + 9_999) // 10_000)
    out = f"/tmp/fleetsim-localshards-{devices}"
    cmd = [BINARY, "run", os.path.join(ROOT, "scenarios/fleet-60k-live.yaml"), "--out", out, "-q",
           "--set", f"fleet.fleet.count={devices}", "--set", f"backend.gateways.count={gateways}",
           "--set", f"backend.database.rows={max(devices, 60000)}"]
    load = open("/proc/loadavg").read().split()[0]
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak, cpu = {}, {}
    while proc.poll() is None and time.time() - start < 900:
        for pid, (role, rss, seconds) in fleetsim_processes().items():
            peak[pid] = (role, max(rss, peak.get(pid, (role, 0))[1]))
            cpu[pid] = (role, seconds)
        time.sleep(2)
    if proc.poll() is None:
        proc.kill()
    err = proc.stderr.read()
    wall = time.time() - start
    report = json.load(open(out + "/report.json"))
    s = report["summary"]
    by_role = {}
    for pid, (role, rss) in peak.items():
        r = by_role.setdefault(role, {"n": 0, "peak_mib": [], "cpu_s": 0.0})
        r["n"] += 1
        r["peak_mib"].append(round(rss / 2**20, 1))
        r["cpu_s"] += cpu.get(pid, (role, 0))[1]
    print(f"\n{devices} devices, {gateways} gateways, load average before {load}: exit {proc.returncode}, wall {wall:.0f} s")
    print(f"  online final {s['online_fraction_final']:.4f}, min {s['online_fraction_min']:.4f}; connects {s['connects']}; "
          f"ack timeouts {s['ack_timeouts']}, handshake timeouts {s['handshake_timeouts']}; "
          f"handshake p99 {s['handshake_ms']['p99']} ms; mass disconnects "
          f"{[(round(m['t_s']), m['devices'], m.get('to_95pct_s')) for m in report['storm']['mass_disconnects']]}")
    for role, r in sorted(by_role.items()):
        print(f"  {role}: {r['n']} processes, peak RSS {min(r['peak_mib'])}–{max(r['peak_mib'])} MiB, CPU {r['cpu_s']:.0f} s")
    print("  thresholds:", ", ".join(f"{t['metric']} {'ok' if t.get('ok') else 'FAIL'}" for t in report["thresholds"]))
    if report.get("incomplete"):
        print("  incomplete:", report["incomplete"])
    if proc.returncode not in (0, 1):
        print("  stderr:", err.strip().splitlines()[-1:] if err.strip() else "")
    return proc.returncode


if __name__ == "__main__":
    sizes = [int(a) for a in sys.argv[1:]] or [60000, 100000]
    codes = [run(n) for n in sizes]
    sys.exit(max(codes))
