#!/usr/bin/env bash
# Every GPU figure in README's performance table, in one run on a CUDA machine (~6 min, H100).
#
#   benchmarks/run_gpu_suite.sh CIFAR10_DIR VEHICLES_DIR [LOG]
#
# Runs from the repository root with whatever python3 holds torch (no install needed: the
# engine is imported from the checkout). Each step has its own time limit, so one that
# hangs cannot eat the others' time; the log keeps going.
set -u
cifar=${1:?CIFAR-10 folder}
vehicles=${2:?vehicles folder}
log=${3:-gpu_suite.log}
source "$(dirname "$0")/gpu_common.sh"
gpu_setup "$log"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version())"
step 120 "CUDA tests" "$py" -m pytest -q -p no:cacheprovider tests/test_ops_cuda.py \
    tests/test_trainer_speed.py tests/test_datasets_augment.py
step 90 "bench_ops vs cuDNN (float32)" "$py" benchmarks/bench_ops.py --device cuda --repeats 7
step 45 "bench_ops vs cuDNN (TF32 both)" "$py" benchmarks/bench_ops.py --device cuda \
    --repeats 7 --tf32 --shapes c2,c3,c5,c6,c7,c8
step 200 "bench_gpu throughput" "$py" benchmarks/bench_gpu.py --data-root "$cifar" --only speed
step 120 "bench_gpu cifar10-fast" "$py" benchmarks/bench_gpu.py --data-root "$cifar" --only recipes
step 75 "bench_train on the GPU" "$py" benchmarks/bench_train.py --device cuda \
    --data-root "$vehicles" --epochs 3
