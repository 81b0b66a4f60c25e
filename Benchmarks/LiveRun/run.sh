#!/usr/bin/env bash
# The live runner's performance figures (issue "fleetsim run"), in one run against one light
# loopback echo server (WSClientBench's): first raw WSClient (15,000 idle connections, then
# heartbeat round trips), then `fleetsim run` holding the same 15,000 as devices (fleet.yaml).
# Release builds; about 3 minutes on an idle 2-core machine. Loopback only, stops by itself.
set -euo pipefail
cd "$(dirname "$0")"
(cd ../WSClientBench && swift build -c release >/dev/null)
(cd ../.. && swift build -c release --product fleetsim >/dev/null)
B=../WSClientBench/.build/release/WSClientBench
F=../../.build/release/fleetsim
$B server --light --port 9301 & server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sleep 1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== raw WSClient: 15,000 idle connections"
$B idle --url ws://127.0.0.1:9301/ --connections 15000 --hold 2
echo "== raw WSClient: heartbeat round trips"
$B heartbeat --url ws://127.0.0.1:9301/ --connections 1000 --rounds 50
echo "== raw WSClient at the fleet's pace: 15,000 connections, a heartbeat each every 30 s, one loop"
$B paced --url ws://127.0.0.1:9301/ --connections 15000 --client-threads 1 --seconds 60
echo "== fleetsim run: 15,000 devices, heartbeat every 30 s (0.5 s intervals: the connect rate)"
python3 measure.py "$F" ws://127.0.0.1:9301/ fleet.yaml
echo "== the same with 5 s intervals (a report every 5 s, as a long run's 1 min intervals cost even less): CPU per heartbeat"
python3 measure.py "$F" ws://127.0.0.1:9301/ fleet.yaml --set interval=5s
echo "== the embedded backend and one fleet process together: 18,000 devices"
"$F" run embedded.yaml -q --out "$(mktemp -d)/embedded" > /tmp/fleetsim-embedded-folder.txt
python3 -c "import json,sys; r=json.load(open(open('/tmp/fleetsim-embedded-folder.txt').read().strip()+'/report.json')); s=r['summary']; print(f\"devices {s['devices']}, connects {s['connects']}, online at the end {s['online_fraction_final']:.4f}, minimum after forming {s['online_fraction_min']:.4f}, handshake p99 {s['handshake_ms']['p99']} ms, ack timeouts {s['ack_timeouts']}\")"
