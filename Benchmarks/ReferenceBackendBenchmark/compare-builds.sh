#!/usr/bin/env bash
# Server CPU per handshake of two builds of this benchmark (two builds of the backend), run in
# alternation so that the machine's other work falls on both alike; prints every run's RESULT
# line and, per build, the median of each figure and the ratio of the medians (B / A).
#
#   ./compare-builds.sh A_BINARY B_BINARY [RUNS] [-- handshake-cpu options]
#   ./compare-builds.sh /tmp/bench-old /tmp/bench-new 7 -- --rows 100000 --seconds 10
set -euo pipefail
a=$1 b=$2 runs=${3:-7}
shift 3 || shift $#
[[ ${1:-} == -- ]] && shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 1; i <= runs; i++)); do
    for side in A B; do
        bin=$a; [[ $side == B ]] && bin=$b
        line=$("$bin" handshake-cpu "$@" | grep '^RESULT')
        echo "$side $i $line" | tee -a "$out"
    done
done
python3 - "$out" <<'EOF'
import statistics, sys
runs = {"A": {}, "B": {}}
for line in open(sys.argv[1]):
    side, _, _, *fields = line.split()
    for key, value in zip(fields[::2], fields[1::2]):
        try: runs[side].setdefault(key, []).append(float(value))
        except ValueError: pass
for key in ["cpu_us_per_handshake", "scrape_cpu_us", "handshakes", "load1"]:
    a, b = statistics.median(runs["A"][key]), statistics.median(runs["B"][key])
    print(f"median {key}: A {a:.2f}  B {b:.2f}  B/A {b / a:.4f}")
EOF
