#!/usr/bin/env bash
# Server CPU per handshake of two builds of this benchmark (two builds of the backend), run in
# alternation so that the machine's other work falls on both alike; prints every run's RESULT
# line and, per build, the median of each figure and the ratio of the medians (B / A), and the
# median of the runs' own B / A ratios. With TOGETHER=1, each run starts both builds at the same
# time (each with its own devices), so that both see the same load from the rest of the machine.
#
#   ./compare-builds.sh A_BINARY B_BINARY [RUNS] [-- handshake-cpu options]
#   ./compare-builds.sh /tmp/bench-old /tmp/bench-new 7 -- --rows 100000 --seconds 10
#   TOGETHER=1 ./compare-builds.sh /tmp/bench-old /tmp/bench-new 7 -- --rows 100000 --seconds 10
set -euo pipefail
a=$1 b=$2 runs=${3:-7}
shift 3 || shift $#
[[ ${1:-} == -- ]] && shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for ((i = 1; i <= runs; i++)); do
    if [[ ${TOGETHER:-0} == 1 ]]; then
        "$a" handshake-cpu "$@" > "$out.A" &
        "$b" handshake-cpu "$@" > "$out.B"
        wait
        for side in A B; do echo "$side $i $(grep '^RESULT' "$out.$side")" | tee -a "$out"; done
        rm -f "$out.A" "$out.B"
        continue
    fi
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
    if not fields: continue
    for key, value in zip(fields[::2], fields[1::2]):
        try: runs[side].setdefault(key, []).append(float(value))
        except ValueError: pass
for key in ["cpu_us_per_handshake", "scrape_cpu_us", "handshakes", "load1"]:
    a, b = statistics.median(runs["A"][key]), statistics.median(runs["B"][key])
    print(f"median {key}: A {a:.2f}  B {b:.2f}  B/A {b / a:.4f}")
key = "cpu_us_per_handshake"
ratios = [b / a for a, b in zip(runs["A"][key], runs["B"][key])]
print(f"median of the runs' B/A {key}: {statistics.median(ratios):.4f} ({' '.join(f'{r:.3f}' for r in ratios)})")
EOF
