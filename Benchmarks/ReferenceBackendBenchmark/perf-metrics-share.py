#!/usr/bin/env python3
# The share of the server process's perf samples with a frame matching a pattern in their stack
# (inclusive) or at their top (leaf), e.g. the metrics code (RESULTS.md, "Metrics"):
#   python3 perf-metrics-share.py perf.data 'BackendMetrics|10Prometheus'
# The server is the benchmark's own process (the lowest pid with samples); the devices are children.
import re, subprocess, sys, collections
data = sys.argv[1]
out = subprocess.run(["perf", "script", "-i", data, "-F", "comm,pid,tid,ip,sym"], capture_output=True, text=True).stdout
samples = []  # (pid, comm, [syms])
cur = None
for line in out.split("\n"):
    if not line.strip():
        if cur: samples.append(cur); cur = None
        continue
    if not line.startswith(("\t", " ")) or re.match(r"^\s*\S.*\s\d+/\d+\s*$", line):
        m = re.match(r"^\s*(.*?)\s+(\d+)/(\d+)\s*$", line)
        if m:
            if cur: samples.append(cur)
            cur = [int(m.group(2)), m.group(1), []]
            continue
    if cur is not None:
        parts = line.strip().split(None, 1)
        cur[2].append(parts[1] if len(parts) > 1 else "")
if cur: samples.append(cur)
bypid = collections.Counter(s[0] for s in samples)
print("samples by pid:", bypid.most_common(5))
# The server: the process whose threads include the database workers (the parent, lowest pid among the big ones)
server = min(p for p, n in bypid.items() if n > 100)
ss = [s for s in samples if s[0] == server]
pat = re.compile(sys.argv[2])
incl = sum(1 for s in ss if any(pat.search(f) for f in s[2]))
leaf = sum(1 for s in ss if s[2] and pat.search(s[2][0]))
print(f"server pid {server}: {len(ss)} samples; frames matching metrics: inclusive {incl} ({100*incl/len(ss):.2f}%), leaf {leaf} ({100*leaf/len(ss):.2f}%)")
leafsyms = collections.Counter(s[2][0] for s in ss if s[2] and pat.search(s[2][0]))
for sym, n in leafsyms.most_common(12): print(f"  {n:5d} {sym[:150]}")
