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
echo "== fleetsim run: 15,000 devices, heartbeat every 30 s"
python3 measure.py "$F" ws://127.0.0.1:9301/ fleet.yaml
