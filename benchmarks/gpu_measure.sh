#!/usr/bin/env bash
# Issue 27's measurements in one call, on one H100/H200 (under ~8 minutes; each stage capped):
#
#   OUT=/tmp/m bash benchmarks/gpu_measure.sh          # from the repository root; summary: $OUT/summary.md
#   bash benchmarks/gpu_measure.sh --smoke             # the CPU interpreter at tiny sizes: checks the script only
#
# Needs python with torch (CUDA) and triton only. Stages run as separate processes under
# `timeout`, so a stuck or failing stage costs its own cap and the next one still runs;
# every record is in $OUT/results.jsonl, every stage's output in $OUT/logs/.
set -u
ROOT="$(pwd)"
[ -f "$ROOT/kernels/lstm/sync.py" ] || { echo "run this from the repository root (no kernels/lstm/sync.py here)"; exit 2; }
OUT="${OUT:-./gpu_measure_out}"
mkdir -p "$OUT/logs"
OUT="$(cd "$OUT" && pwd)"
export OUT PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
unset LSTM_FUSED_CUDA_GRAPH CUDA_LAUNCH_BLOCKING
PY="${PY:-python3}"
SMOKE=()
[ "${1:-}" = "--smoke" ] && SMOKE=(--smoke)
[ ${#SMOKE[@]} -eq 0 ] && unset TRITON_INTERPRET
START=$(date +%s)

stage() {  # name cap_seconds [args...]
  local name="$1" cap="$2"; shift 2
  local t0=$(date +%s)
  timeout -k 5 "$cap" "$PY" benchmarks/gpu_measure.py "$name" "${SMOKE[@]}" "$@" >"$OUT/logs/$name.log" 2>&1
  local rc=$?
  echo "=== [$name] rc=$rc in $(( $(date +%s) - t0 ))s (cap ${cap}s)"
  grep -v '^RESULT ' "$OUT/logs/$name.log" | tail -n 5
}

[ ${#SMOKE[@]} -eq 0 ] && { timeout 20 nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,power.limit --format=csv 2>&1 | tee "$OUT/logs/nvidia-smi.log"; }
stage env 45
stage correctness 110 --budget 85
stage sync 45
stage split 75
stage paths 110
stage profile 45
stage summarize 30
echo "=== done in $(( $(date +%s) - START ))s; $OUT/summary.md:"
cat "$OUT/summary.md" 2>/dev/null | head -c 12000
