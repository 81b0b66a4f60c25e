#!/usr/bin/env bash
# Runs every WSClient figure of issue 3 against loopback echo servers started here, then stops
# them. Release build; takes about a minute on an idle 2-core machine.
#   ./run.sh            # all figures
# Needs the openssl CLI (for the wss:// server's self-signed certificate).
set -euo pipefail
cd "$(dirname "$0")"
swift build -c release >/dev/null
B=.build/release/WSClientBench
TMP=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$TMP/key.pem" \
  -out "$TMP/cert.pem" -days 2 -subj /CN=localhost -addext "subjectAltName=DNS:localhost" 2>/dev/null

# ws:// figures: the light server (raw bytes, no HTTP codec), whose CPU takes least from the
# client on a 2-core machine. The extensions and TLS need NIO's server upgrader and codec.
$B server --light --port 9201 & pids+=($!)
$B server --port 9202 --deflate & pids+=($!)
$B server --port 9203 --tls "$TMP/cert.pem" "$TMP/key.pem" & pids+=($!)
# Two server processes share one port (SO_REUSEPORT) for the 30,000-connection run: each process
# is capped at 20,000 descriptors.
$B server --light --port 9204 --reuseport & pids+=($!)
$B server --light --port 9204 --reuseport & pids+=($!)
sleep 1
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== ws:// 15,000 idle connections, one process"
$B idle --url ws://127.0.0.1:9201/ --connections 15000 --sources 2-9 --hold 2
echo "== ws:// 2 x 15,000 idle connections, two processes at once"
$B idle --url ws://127.0.0.1:9204/ --connections 15000 --sources 2-9 --hold 8 > "$TMP/a.txt" &
a=$!
$B idle --url ws://127.0.0.1:9204/ --connections 15000 --sources 10-17 --hold 4
wait $a; cat "$TMP/a.txt"
echo "== ws:// heartbeat"
$B heartbeat --url ws://127.0.0.1:9201/ --connections 1000 --rounds 50
echo "== the loopback floor: the same round trips from C with raw read/write, no WebSocket, no NIO"
cc -O2 -o "$TMP/loopback-floor" loopback-floor.c && "$TMP/loopback-floor" 1000 50
echo "== permessage-deflate 15,000 idle connections"
$B idle --url ws://127.0.0.1:9202/ --connections 15000 --sources 2-9 --deflate --hold 2
echo "== permessage-deflate heartbeat"
$B heartbeat --url ws://127.0.0.1:9202/ --connections 1000 --rounds 50 --deflate
echo "== wss:// 5,000 idle connections"
$B idle --url wss://localhost:9203/ --connections 5000 --sources 2-9 --ca "$TMP/cert.pem" --hold 2
echo "== wss:// heartbeat"
$B heartbeat --url wss://localhost:9203/ --connections 1000 --rounds 50 --ca "$TMP/cert.pem"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
