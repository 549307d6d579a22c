#!/usr/bin/env bash
# The GPU check of the hand-written ops (issue 18 §3), in one run on a CUDA machine:
# the CUDA tests (Triton and im2col convolutions vs cuDNN, pooling), then bench_ops against
# cuDNN in float32 (TF32 off), TF32, bfloat16 + channels-last, and the old im2col path for
# contrast, with the `conv` model's training img/s (hand-written conv vs nn.Conv2d).
# Needs no data set. About 4-6 min on an H100/H200, most of it Triton compiling and
# autotuning (fresh cache).
#
#   benchmarks/run_gpu_ops.sh [LOG]        # default log: gpu_ops.log
#
# Runs from the repository root with whatever python3 holds torch and Triton (no install:
# the engine is imported from the checkout). Each step has its own time limit, so one that
# hangs cannot eat the others' time; the log keeps going.
set -u
log=${1:-gpu_ops.log}
source "$(dirname "$0")/gpu_common.sh"
gpu_setup "$log"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c "import torch, triton; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'triton', triton.__version__)"
# Tests autotune over two tile configs (the smallest and a large one), not all of them.
step 180 "CUDA tests" env CNNLAB_TRITON_TUNE=quick "$py" -m pytest -q -p no:cacheprovider \
    -x tests/test_ops_cuda.py tests/test_ops_triton.py
step 110 "bench_ops vs cuDNN (float32, TF32 off)" "$py" benchmarks/bench_ops.py --device cuda \
    --repeats 7
step 60 "bench_ops vs cuDNN (TF32 both)" "$py" benchmarks/bench_ops.py --device cuda \
    --repeats 7 --tf32 --shapes c1,c2,c3,c4,c5,c6,c7,c8 --no-model
step 70 "bench_ops vs cuDNN (bfloat16, channels-last)" "$py" benchmarks/bench_ops.py \
    --device cuda --repeats 7 --dtype bfloat16 --channels-last
step 30 "bench_ops, im2col kernel on the GPU (the previous path)" "$py" \
    benchmarks/bench_ops.py --device cuda --repeats 5 --kernel im2col --shapes c3,c5,c7 \
    --no-model
