#!/usr/bin/env bash
# Issue 28's throughput table in one call, on one H100/H200 (a few minutes; capped at 8):
#
#   OUT=/tmp/packed bash benchmarks/packed.sh        # from the repository root: $OUT/packed.md, packed.jsonl, packed.log
#   bash benchmarks/packed.sh --smoke                # a CPU at tiny sizes: checks the script only
#
# Needs python with torch (CUDA) only: no Hydra, no W&B (benchmarks/packed.py says what it measures).
set -u
ROOT="$(pwd)"
[ -f "$ROOT/lstm_bench/models/packed.py" ] || { echo "run this from the repository root"; exit 2; }
OUT="${OUT:-./packed_out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export OUT PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY="${PY:-python3}"
rm -f "$OUT/packed.jsonl"
if [ "${1:-}" != "--smoke" ]; then
  timeout 20 nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,power.limit --format=csv 2>&1 | tee "$OUT/nvidia-smi.log"
fi
timeout -k 10 480 "$PY" benchmarks/packed.py "$@" 2>&1 | tee "$OUT/packed.log"
echo "rc=${PIPESTATUS[0]}; $OUT/packed.md"
