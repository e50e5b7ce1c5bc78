#!/usr/bin/env bash
# What a lent GPU machine runs (one prepared call): the CUDA tests, `bench train` on CUDA with AMP, a CUDA
# training run, and meanwhile the synthetic experiments on pinned CPU core pairs (tools/synthetic_experiments.sh).
# Usage: OUT=/some/folder MINUTES=4 bash tools/gpu_checks.sh      (results land in $OUT)
set -u
if [ "${NO_PIN:-0}" = 1 ] || ! command -v taskset >/dev/null; then taskset() { shift 2; "$@"; }; fi
OUT=${OUT:-/tmp/gpu-checks}; MINUTES=${MINUTES:-4}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
SF="python3 -m slowfast_core.cli"
{ nvidia-smi -L; lscpu | grep -E "Model name|^CPU\(s\)"; lscpu | grep -o -E "avx512f|avx2|amx_tile|avx512_vnni" | sort -u | tr '\n' ' '; echo;
  python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } > "$OUT/machine.txt" 2>&1
SCRATCH_DEVICE=cuda bash tools/synthetic_experiments.sh /tmp/exp "$MINUTES" "0 1" 4 > "$OUT/experiments.txt" 2>&1 &
EXP=$!
sleep 60  # the experiments first write their datasets (cores 0-15); the GPU work below uses cores 0-3
taskset -c 0-3 python3 -m pytest -q -p no:cacheprovider -p no:qt tests/test_backends.py -k cuda > "$OUT/cuda_tests.txt" 2>&1
for arch in slowfast_8x8_r50 slowfast_4x16_r50; do
  taskset -c 0-3 $SF bench train --arch $arch --size 224 --batch-size 32 --device cuda --steps 10 --workers 3 \
    --frame-size 340x256 --loader-clips 36 --json >> "$OUT/bench_train_cuda.jsonl" 2>> "$OUT/bench_train_cuda.log"
done
while [ ! -f /tmp/exp/data/synth.json ]; do sleep 1; done
for arch in slowfast_tiny slow_tiny fast_tiny; do  # Table 5a with an epoch budget (30) instead of minutes
  taskset -c 0-3 $SF train /tmp/exp/data --arch $arch --from-scratch --epochs 30 --device cuda --workers 3 \
    --out /tmp/gpu-run/$arch --json >> "$OUT/cuda_train.jsonl" 2>> "$OUT/cuda_train.log"
done
wait $EXP
tar czf "$OUT/runs.tgz" -C /tmp exp/5a exp/transfer gpu-run --exclude='*.pyth' 2>/dev/null
echo done
