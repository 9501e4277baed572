#!/usr/bin/env bash
# One-shot GPU check of kernels/lstm (lstm_fused, lstm_fused_gemm, lstm_persistent) on an H100/H200-class GPU.
#
#   cd <project root>            # the folder holding kernels/, tests/
#   OUT=/tmp/gc GPU_CHECK_BUDGET_S=300 bash benchmarks/gpu_check/gpu_check.sh
#
# Results go to $OUT (default ./gpu_out): summary.md, summary.json,
# results.jsonl (every record, appended as it happens), stages.jsonl, logs/<stage>.log,
# artifacts/*.ttgir. Wall-clock budget: GPU_CHECK_BUDGET_S (default 450 s); every stage has
# its own timeout, trimmed to what is left of the budget, and a failing or hung stage is
# recorded and skipped over. The persistent (grid-barrier) kernel runs only in the last
# stages, each under `timeout 60` at most, behind an in-process hang watchdog.
set -u
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(pwd)"
OUT="${OUT:-./gpu_out}"
mkdir -p "$OUT/logs" "$OUT/artifacts"
OUT="$(cd "$OUT" && pwd)"
export OUT
BUDGET="${GPU_CHECK_BUDGET_S:-450}"
START=$(date +%s)
DEADLINE=$((START + BUDGET))
HELPER="$HERE/gpu_check.py"

if [ ! -f "$ROOT/kernels/lstm/fused.py" ]; then
  echo "run this from the project root (no kernels/lstm/fused.py under $ROOT)"; exit 2
fi
if [ ! -f "$HELPER" ]; then
  echo "missing $HELPER (copy gpu_check.py beside this script)"; exit 2
fi

# real kernels, default paths: no interpreter, no forced eager, no blocking launches
unset TRITON_INTERPRET LSTM_FUSED_CUDA_GRAPH CUDA_LAUNCH_BLOCKING
export PYTHONUNBUFFERED=1
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

# python: $PY, else the project's .venv if it has a CUDA torch, else python3
pick_py() {
  for c in "${PY:-}" "$ROOT/.venv/bin/python" python3 python; do
    [ -n "$c" ] || continue
    command -v "$c" >/dev/null 2>&1 || [ -x "$c" ] || continue
    if timeout 60 "$c" -c "import torch, triton; assert torch.cuda.is_available()" >/dev/null 2>&1; then
      echo "$c"; return 0
    fi
  done
  return 1
}

stage_record() {  # name status rc seconds timeout
  printf '{"stage": "%s", "status": "%s", "rc": %s, "seconds": %s, "timeout_s": %s}\n' \
    "$1" "$2" "$3" "$4" "$5" >> "$OUT/stages.jsonl"
}

run_stage() {  # name cap_seconds cmd... ; the helper gets --budget (cap - 15) via $STAGE_BUDGET
  local name="$1" cap="$2"; shift 2
  local now left t
  now=$(date +%s); left=$((DEADLINE - now - 5))
  t=$cap; [ "$left" -lt "$t" ] && t=$left
  if [ "$t" -lt 15 ]; then
    echo "=== [$name] SKIPPED: ${left}s of the ${BUDGET}s budget left"
    stage_record "$name" "skipped (budget)" null 0 0
    return 0
  fi
  export STAGE_BUDGET=$((t - 15))
  echo "=== [$name] timeout ${t}s: $*"
  local t0 t1 rc status
  t0=$(date +%s)
  timeout -k 5 "$t" "$@" >"$OUT/logs/$name.log" 2>&1
  rc=$?
  t1=$(date +%s)
  case "$name:$rc" in
    *:0) status=ok ;;
    *:124|*:137) status=TIMEOUT ;;
    pytest*:1) status="tests failed" ;;
    pytest*:5) status="no tests collected" ;;
    pytest*:*) status=FAILED ;;
    *:3) status="HANG (watchdog)" ;;
    *) status=FAILED ;;
  esac
  stage_record "$name" "$status" "$rc" "$((t1 - t0))" "$t"
  echo "--- [$name] $status (rc=$rc, $((t1 - t0))s); last lines of logs/$name.log:"
  grep -v '^RESULT ' "$OUT/logs/$name.log" | tail -n 15
  grep -E '^RESULT .*"(FAIL|ERROR|hang|HANG)' "$OUT/logs/$name.log" | cut -c1-300 | head -n 8
  return 0
}

echo "=== gpu_check: root=$ROOT out=$OUT budget=${BUDGET}s $(date -u +%FT%TZ)"
{
  echo "--- nvidia-smi"; timeout 20 nvidia-smi 2>&1
  echo "--- nvidia-smi compute apps (other processes would break the grid barrier's co-residency)"
  timeout 10 nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv 2>&1
  echo "--- MIG / clocks"; timeout 10 nvidia-smi --query-gpu=name,mig.mode.current,clocks.sm,clocks.max.sm,power.limit --format=csv 2>&1
} | tee "$OUT/logs/nvidia-smi.log" | head -n 60

PYBIN="$(pick_py)"
# never pip-install here: on a machine without a GPU an unpinned torch would pull a multi-GB CUDA build
if [ -z "$PYBIN" ]; then
  echo "FATAL: no python with torch (CUDA) + triton"; stage_record env "FAILED (no CUDA torch)" 2 0 0
  python3 "$HELPER" summarize >/dev/null 2>&1
  exit 2
fi
echo "=== python: $PYBIN"
PYCMD=("$PYBIN" "$HELPER")
PYTEST=("$PYBIN" -m pytest tests/test_kernels.py -q -p no:cacheprovider --noconftest -rfEs --durations=8)
if ! "$PYBIN" -c "import pytest" >/dev/null 2>&1; then
  echo "pytest is not importable: the pytest stages are skipped (the helper's own checks still run)"
  PYTEST=()
fi
run_pytest() {  # name cap -k-expression
  if [ "${#PYTEST[@]}" -eq 0 ]; then
    echo "=== [$1] SKIPPED: no pytest"; stage_record "$1" "skipped (no pytest)" null 0 0; return 0
  fi
  run_stage "$1" "$2" "${PYTEST[@]}" -k "$3"
}

# S0: versions and device facts
run_stage env 40 "${PYCMD[@]}" env --stage env
grep '^RESULT' "$OUT/logs/env.log" | head -n 1 | cut -c1-900

# S1: the repo's tests on the GPU, everything but the persistent kernel (fused, graphs, bad input, ...)
run_pytest pytest_fused 75 "not persistent"

# S2: lstm_fused vs nn.LSTM over B {1,16,64} x H {64..1024} x T {7,256,1} x fp16/bf16/fp32, with grads
#     (extras: odd B and non-power-of-two H, i.e. the masked paths)
run_stage sweep_fused 70 bash -c '"$0" "$1" sweep --stage sweep_fused --impl fused --budget "$STAGE_BUDGET" \
  --extra 5,33,100:fp16 5,33,100:fp32 3,256,1000:bf16 16,64,1000:fp16' "${PYCMD[@]}"

# S3: timing (cuDNN, cell loops, fused, fused eager, graph replays) at FlashRNN's point and B=64,T=120,H=128
run_stage timing_fused 70 bash -c '"$0" "$1" timing --stage timing_fused --budget "$STAGE_BUDGET" \
  --specs 16,1024,768:fp16 64,120,128:fp16 16,1024,768:fp32 64,120,128:fp32 16,1024,768:bf16 \
  --methods cudnn fused fused_eager loop_cell loop_naive' "${PYCMD[@]}"

# ---- persistent kernel: last, each stage <= 60 s, watchdog inside (a stuck barrier exits rc=3) ----
# P1: compile facts (mma layout / regs / spills / smem / PTX) + one launch per layout; barrier-free first
#     (64,64,512 fp16 = 128 programs on 132 SMs: the co-residency margin is 4 SMs; each barrier
#      kernel is relaunched 8 times and compared bitwise: a difference means a race)
run_stage persistent_smoke 60 bash -c '"$0" "$1" smoke --stage persistent_smoke --wait 20 --budget "$STAGE_BUDGET" \
  --specs 16,64,128:fp16 16,64,768:fp16 64,64,512:fp16 16,64,256:fp16 16,64,512:fp32 16,64,64:fp32 16,64,1024:fp16' "${PYCMD[@]}"

# P2: persistent timing (fwd, fwd+bwd, kernel alone) at the same two shapes, cuDNN beside it
run_stage timing_persistent 50 bash -c '"$0" "$1" timing --stage timing_persistent --wait 20 --budget "$STAGE_BUDGET" \
  --specs 16,1024,768:fp16 64,120,128:fp16 64,120,128:fp32 16,1024,768:bf16 \
  --methods cudnn persistent persistent_kernel' "${PYCMD[@]}"

# P3: the repo's GPU-only persistent tests (includes the grid-barrier path test)
run_pytest pytest_persistent_gpu 60 "persistent and gpu"

# P4: persistent correctness sweep (B 16/64 at T 7/256 over every H and dtype, then B=1 / T=1 extras)
run_stage sweep_persistent 60 bash -c '"$0" "$1" sweep --stage sweep_persistent --impl persistent --wait 20 \
  --budget "$STAGE_BUDGET" --B 16 64 --T 7 256 --dtypes fp16 bf16 fp32 \
  --extra 1,7,768:fp16 16,1,768:fp16 1,256,128:fp16 16,1,256:fp32 5,33,100:fp16 8,17,1000:fp16' "${PYCMD[@]}"

# P5: the repo's other persistent tests (fp64/fp32 small shapes, gradcheck) if time is left
run_pytest pytest_persistent_rest 45 "persistent and not gpu"

# summary (no GPU): $OUT/summary.md, $OUT/summary.json
timeout 60 "$PYBIN" "$HELPER" summarize >"$OUT/logs/summarize.log" 2>&1 || echo "summarize failed (rc=$?)"
echo
echo "=================== $OUT/summary.md ==================="
head -c 9000 "$OUT/summary.md" 2>/dev/null
echo
echo "=== gpu_check done in $(( $(date +%s) - START ))s; files under $OUT"
exit 0
