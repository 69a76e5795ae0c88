#!/usr/bin/env bash
# perf_analyzer (Triton's C++ load generator) against the bare server, the bare server that scores,
# and optionally a running driftgate, at concurrency 1, 16 and 64, one after the other in one run.
#
#   bench/perf_analyzer_floor.sh [TARGET_HOST:PORT]
#
# Needs scripts/install_perf_analyzer.sh first (PERF_VENV, default ./.perf-venv). Writes the
# perf_analyzer summaries to bench/results/perf_analyzer-<time>.txt. Settings (PA_ARGS) follow
# ../shared/BENCHMARKING.md; -s 30 often fails to settle on a busy 2-core host, so the default
# here is -s 50 (override with PA_ARGS). Against the target perf_analyzer gets -x 1
# (TARGET_PA_ARGS): without an explicit version it stops with "failed to find the requested model
# version" against driftgate.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PY:-.venv/bin/python}"
PA="${PERF_VENV:-./.perf-venv}/bin/pa"
PA_ARGS="${PA_ARGS:--s 50 --max-trials 10 -p 2000 --percentile=99}"
TARGET="${1:-}"
STAMP="$(date +%Y%m%d-%H%M%S)"
OUT="bench/results/perf_analyzer-$STAMP.txt"
TMP="$(mktemp -d)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

[ -x "$PA" ] || { echo "run scripts/install_perf_analyzer.sh first ($PA missing)" >&2; exit 1; }
mkdir -p bench/results

"$PY" -c "
from driftgate.bench.floors import demo_model
open('$TMP/gbt.onnx', 'wb').write(demo_model('gbt')[0])
"

ADDR=""
start() {  # start a bare server in the background (not a subshell, so cleanup sees its pid); sets ADDR
  local log="$TMP/out.${#PIDS[@]}"
  "$PY" -m driftgate.bench.bare_server --port 0 "$@" > "$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do
    if grep -q "listening on" "$log"; then ADDR="$(sed -n 's/listening on \(\S*\)/\1/p' "$log")"; return; fi
    sleep 0.1
  done
  echo "bare server did not start: $(cat "$log")" >&2
  exit 1
}
start; BARE="$ADDR"
start --score --onnx "$TMP/gbt.onnx"; SCORE="$ADDR"

{
  echo "# perf_analyzer $STAMP on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg); args: -b 1 $PA_ARGS"
} | tee "$OUT"
SYSTEMS=("bare=$BARE" "bare+score=$SCORE")
[ -n "$TARGET" ] && SYSTEMS+=("target=$TARGET")
for c in 1 16 64; do
  for entry in "${SYSTEMS[@]}"; do
    name="${entry%%=*}"; addr="${entry#*=}"
    # shellcheck disable=SC2086
    extra=""
    [ "$name" = target ] && extra="${TARGET_PA_ARGS:--x 1}"
    line="$( { "$PA" -m fraud $extra -u "$addr" -i grpc -b 1 --concurrency-range "$c" $PA_ARGS 2>&1 || true; } \
      | awk '/Throughput:/{t=$2} /p50 latency/{p50=$3} /p99 latency/{p99=$3}
             /[Ff]ailed|what\(\)|[Ee]rror/{f=$0}
             END{if (f) printf "FAILED: %s (last figures: %s infer/s, p50 %s us, p99 %s us)", f, t, p50, p99;
                 else printf "%s infer/s  p50 %s us  p99 %s us", t, p50, p99}')"
    echo "$name c=$c: $line" | tee -a "$OUT"
  done
done
echo "written: $OUT"
