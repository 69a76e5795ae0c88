#!/usr/bin/env bash
# Scaling past one process: N bare V2 processes that score the demo model (SO_REUSEPORT, one port)
# against `driftgate serve --workers N` (routing, drift sketches and statistics all on), with
# Triton's perf_analyzer on the same host, batch 1. Also one process of each at concurrency 1 and
# 16 (the single-worker budget). One run, side by side; results in $OUT (default bench/results).
#
#   bench/scaling.sh HOME [N]      # HOME: a driftgate home with the demo model registered
#
# Environment: PA (perf_analyzer command, default ./.perf-venv/bin/pa), PY (python, default
# .venv/bin/python or python3), SERVER_CPUS / CLIENT_CPUS (taskset lists, e.g. 0-7 / 8-15),
# PA_ARGS (default: -p 2000 -s 50 --max-trials 6 --percentile=99), CONC_MANY (default 128),
# VARIANTS: extra one-worker driftgate runs at concurrency 16, "label:ENV=VALUE[,ENV=VALUE]" separated
# by spaces, e.g. "nodrift:DRIFTGATE_DRIFT__ENABLED=false nofreeze:DRIFTGATE_GATEWAY__GC_FREEZE=false".
set -uo pipefail
cd "$(dirname "$0")/.."
HOME_DIR="$1"; N="${2:-8}"
OUT="${OUT:-bench/results}"; mkdir -p "$OUT"
PY="${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
PA="${PA:-./.perf-venv/bin/pa}"
PA_ARGS="${PA_ARGS:--p 2000 -s 50 --max-trials 6 --percentile=99}"
CONC_MANY="${CONC_MANY:-128}"
SRV=(); CLI=()
if [ -n "${SERVER_CPUS:-}" ] && taskset -c "$SERVER_CPUS" true 2>/dev/null; then SRV=(taskset -c "$SERVER_CPUS"); fi
if [ -n "${CLIENT_CPUS:-}" ] && taskset -c "$CLIENT_CPUS" true 2>/dev/null; then CLI=(taskset -c "$CLIENT_CPUS"); fi
ONNX="$(find "$HOME_DIR/artifacts" -type f | head -1)"
PIDS=()
stop_all() { for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done; PIDS=(); }
trap stop_all EXIT
SUMMARY="$OUT/scaling-summary.txt"
echo "# bench/scaling.sh $HOME_DIR $N; $(date -u +%FT%TZ); $(nproc) cores; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)" > "$SUMMARY"
echo "# perf_analyzer $PA_ARGS; server cpus '${SERVER_CPUS:-all}', client cpus '${CLIENT_CPUS:-all}'" >> "$SUMMARY"

ADDR=""
wait_line() {  # file pattern -> sets ADDR to the first HOST:PORT after the pattern
  ADDR=""
  for _ in $(seq 600); do
    ADDR=$(grep -o "$2 [0-9.]*:[0-9]*" "$1" 2>/dev/null | head -1 | awk '{print $NF}')
    [ -n "$ADDR" ] && return 0
    sleep 0.1
  done
  return 1
}

measure() {  # label addr concurrency
  local label="$1" addr="$2" conc="$3" f="$OUT/$1-c$3.txt"
  "${CLI[@]}" "$PA" -m fraud -u "$addr" -i grpc -b 1 --concurrency-range "$conc" $PA_ARGS > "$f" 2>&1
  local line p50 p99
  line=$(grep -E "^Concurrency: $conc," "$f" | tail -1)
  p50=$(grep -m1 "p50 latency" "$f" | awk '{print $3}')
  p99=$(grep -m1 "p99 latency" "$f" | awk '{print $3}')
  echo "$label c=$conc: ${line:-FAILED (see $f)} p50_us=$p50 p99_us=$p99" | tee -a "$SUMMARY"
}

bare() {  # count -> starts count bare+score processes on one port; sets ADDR
  local count="$1" port=0 log
  for i in $(seq "$count"); do
    log="$OUT/bare-$count-$i.log"
    "${SRV[@]}" "$PY" -m driftgate.bench.bare_server --port "$port" --score --onnx "$ONNX" --reuseport > "$log" 2>&1 &
    PIDS+=($!)
    wait_line "$log" "listening on" || { echo "bare server did not start" >&2; cat "$log" >&2; return 1; }
    port="${ADDR##*:}"
  done
}

driftgate_serve() {  # workers label [ENV=VALUE ...] -> starts driftgate serve; sets ADDR to the gateway
  local workers="$1" log="$OUT/driftgate-$1$2.log"
  shift 2
  env DRIFTGATE_LOG_LEVEL=WARNING "$@" "${SRV[@]}" "$PY" -m driftgate --home "$HOME_DIR" serve --workers "$workers" \
    --host 127.0.0.1 --port 0 --metrics-port 0 --registry-port 0 > "$log" 2>&1 &
  PIDS+=($!)
  wait_line "$log" "driftgate serving: gateway" || { echo "driftgate did not start" >&2; tail -30 "$log" >&2; return 1; }
  sleep 2
}

# one process each: concurrency 1 and 16 (the single-worker budget), and CONC_MANY
[ -z "${SKIP_BARE:-}" ] && bare 1 && { measure bare1 "$ADDR" 1; measure bare1 "$ADDR" 16; measure bare1 "$ADDR" "$CONC_MANY"; }
stop_all
driftgate_serve 1 "" && { measure driftgate1 "$ADDR" 1; measure driftgate1 "$ADDR" 16; measure driftgate1 "$ADDR" "$CONC_MANY"; }
stop_all
for variant in ${VARIANTS:-}; do
  label="${variant%%:*}"
  IFS=',' read -r -a envs <<< "${variant#*:}"
  driftgate_serve 1 "-$label" "${envs[@]}" && measure "driftgate1-$label" "$ADDR" 16
  stop_all
done
# N processes each, CONC_MANY
[ -z "${SKIP_BARE:-}" ] && bare "$N" && measure "bare$N" "$ADDR" "$CONC_MANY"
stop_all
driftgate_serve "$N" "" && { sleep 1; measure "driftgate$N" "$ADDR" "$CONC_MANY"; }
stop_all
cat "$SUMMARY"
