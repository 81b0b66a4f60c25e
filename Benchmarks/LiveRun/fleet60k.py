#!/usr/bin/env python3
"""60,000 devices held across processes on this machine (issue "Beyond one process and one machine").

    Benchmarks/LiveRun/fleet60k.py [--shards 4] [--devices 60000]

Starts one light loopback echo server per shard (WSClientBench server --light, 127.0.0.1:9311…),
then `fleetsim run fleet-60k.yaml --shard i/N --target ws://127.0.0.1:931(1+i)/` for every shard
at once, samples each client process's memory and CPU from /proc, merges the shards' reports with
`fleetsim report merge` (whose thresholds are the gate: no ack or handshake timeout, every device
online at the end), and prints per-device client memory and CPU. Loopback only; stops by itself
(about 4 minutes). Build first: `swift build -c release` here and in ../WSClientBench.
"""
import argparse, json, os, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("--shards", type=int, default=4)
ap.add_argument("--devices", type=int, default=60000)
ap.add_argument("--fleetsim", default=os.path.join(here, "../../.build/release/fleetsim"))
ap.add_argument("--server", default=os.path.join(here, "../WSClientBench/.build/release/WSClientBench"))
args = ap.parse_args()
tick = os.sysconf("SC_CLK_TCK")
out = tempfile.mkdtemp(prefix="fleetsim-60k-")
scenario = os.path.join(here, "fleet-60k.yaml")
for exe in (args.fleetsim, args.server):
    if not os.access(exe, os.X_OK):
        sys.exit(f"{exe}: not built (swift build -c release)")

def status(pid):
    with open(f"/proc/{pid}/status") as f:
        fields = {k: v.split() for k, _, v in (line.partition(":") for line in f)}
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read().rsplit(")", 1)[1].split()
    return int(fields["VmRSS"][0]) * 1024, int(fields["VmHWM"][0]) * 1024, (int(stat[11]) + int(stat[12])) / tick

servers = [subprocess.Popen([args.server, "server", "--light", "--port", str(9311 + i)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(args.shards)]
clients = []
try:
    time.sleep(1.5)
    print(f"load average before: {open('/proc/loadavg').read().split()[0]}; {args.devices:,} devices in {args.shards} processes")
    start = time.monotonic()
    for i in range(args.shards):
        folder = os.path.join(out, f"shard-{i}")
        clients.append(subprocess.Popen(
            [args.fleetsim, "run", scenario, "--shard", f"{i}/{args.shards}", "--target", f"ws://127.0.0.1:{9311 + i}/",
             "--set", f"fleet.fleet.count={args.devices}", "--out", folder, "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
    samples = {c.pid: [] for c in clients}   # (seconds, rss, peak, cpu)
    while any(c.poll() is None for c in clients):
        for c in clients:
            if c.poll() is None:
                try:
                    samples[c.pid].append((time.monotonic() - start, *status(c.pid)))
                except (FileNotFoundError, ProcessLookupError, IndexError, KeyError):
                    pass
        time.sleep(0.1)
    for i, c in enumerate(clients):
        if c.returncode not in (0, 1):
            sys.exit(f"shard {i}: fleetsim run exited {c.returncode}: {c.stderr.read().decode().strip()}")
finally:
    for p in clients + servers:
        if p.poll() is None:
            p.terminate()
    for p in servers:
        p.wait()

merged = os.path.join(out, "merged.json")
m = subprocess.run([args.fleetsim, "report", "merge", *[os.path.join(out, f"shard-{i}", "report.json") for i in range(args.shards)],
                    "-o", merged, "-q"], capture_output=True, text=True)
report = json.load(open(merged))
s = report["summary"]
join_at, ramp, hold_from = 5.0, 20.0, 35.0
per_device, cpu_per_device_s = [], []
for i, c in enumerate(clients):
    sm = samples[c.pid]
    shard = json.load(open(os.path.join(out, f"shard-{i}", "report.json")))["summary"]["devices"]
    baseline = [x for x in sm if x[0] < join_at - 0.3][-1][1]
    peak = max(x[2] for x in sm)
    window = [x for x in sm if hold_from <= x[0] <= sm[-1][0] - 8]
    cpu = window[-1][3] - window[0][3]
    per_device.append((peak - baseline) / shard)
    cpu_per_device_s.append(cpu / shard / (window[-1][0] - window[0][0]))
    print(f"shard {i}/{args.shards}: {shard:,} devices, peak RSS {peak / 2**20:.1f} MiB ({baseline / 2**20:.1f} before the joins), "
          f"{(peak - baseline) / shard / 1024:.2f} KiB a device; holding CPU {cpu:.2f} s over {window[-1][0] - window[0][0]:.0f} s")
print(f"merged: {s['devices']:,} devices, connects {s['connects']:,}, ack timeouts {s['ack_timeouts']}, "
      f"handshake timeouts {s['handshake_timeouts']}, online at the end {s['online_fraction_final']:.4f}, "
      f"handshake p99 {s['handshake_ms']['p99']} ms; merge exit {m.returncode} ({'every threshold held' if m.returncode == 0 else m.stderr.strip()})")
print(f"client memory per device: {max(per_device) / 1024:.2f} KiB (worst shard); "
      f"client CPU while holding: {max(cpu_per_device_s) * 1e6:.2f} µs per device per second "
      f"({max(cpu_per_device_s) * 30 * 1e6:.1f} µs per 30 s heartbeat round trip)")
print(f"reports: {out}")
sys.exit(m.returncode)
