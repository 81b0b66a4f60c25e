#!/usr/bin/env bash
# Pre-rollout gate for any CI system: build FleetSim, simulate the rollout, fail on a threshold.
#
#   examples/ci/gate.sh [scenario.yaml] [out-dir]
#
# Exit status is FleetSim's: 0 every threshold held, 1 a threshold failed (do not roll out),
# 2 the scenario is invalid, 3 the run did not complete. The report (report.html, report.json,
# report.md) and junit.xml are left in the output folder for the CI system to publish, even when
# the gate fails. With BASELINE=path/to/report.json the run is also compared with a baseline
# (MAX_REGRESSION, default 10%).
set -euo pipefail
cd "$(dirname "$0")/../.."

scenario="${1:-examples/ci/rollout-gate.yaml}"
out="${2:-fleetsim-gate}"
summary="${GITHUB_STEP_SUMMARY:-$out/summary.md}"

swift build -c release --product fleetsim
fleetsim="$(swift build -c release --show-bin-path)/fleetsim"

"$fleetsim" validate "$scenario"
mkdir -p "$out"
status=0
"$fleetsim" simulate "$scenario" --out "$out" --junit "$out/junit.xml" --summary-md "$summary" || status=$?

if [ "$status" -le 1 ] && [ -n "${BASELINE:-}" ]; then
  "$fleetsim" compare "$BASELINE" "$out/report.json" --max-regression "${MAX_REGRESSION:-10%}" || status=$((status > 0 ? status : $?))
fi

case "$status" in
  0) echo "gate: every threshold held; report: $out/report.html" ;;
  1) echo "gate: FAILED (threshold or baseline regression); do not roll out; report: $out/report.html" >&2 ;;
  *) echo "gate: could not judge the rollout (exit $status)" >&2 ;;
esac
exit "$status"
