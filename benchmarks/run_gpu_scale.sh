#!/usr/bin/env bash
# Issue 15's GPU checks, in one run on a CUDA machine (~3 min on one GPU; more GPUs, a little
# more): the NCCL DDP path (world size 1 is a real NCCL group; 2 when there are 2 GPUs), the
# real NVML reading, and the engine's lanes on the GPUs (one per GPU, a sweep fanned out over
# them, each epoch's GPU figures in metrics.jsonl).
#
#   benchmarks/run_gpu_scale.sh [LOG]
#
# Runs from the repository root with whatever python3 holds torch and nvidia-ml-py (no
# install: the engine is imported from the checkout). Each step has its own time limit, so
# one that hangs cannot eat the others' time; a skipped test prints its reason (-rs).
set -u
log=${1:-gpu_scale.log}
export CNNLAB_DDP_TIMEOUT=120
source "$(dirname "$0")/gpu_common.sh"
gpu_setup "$log"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c "import torch, torch.distributed as d; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'nccl', torch.cuda.nccl.version(), 'gpus', torch.cuda.device_count(), 'nccl available', d.is_nccl_available())"
"$py" -c "import pynvml; print('nvidia-ml-py', pynvml.__version__ if hasattr(pynvml, '__version__') else 'present')" \
    || echo "nvidia-ml-py missing: pip install -c constraints.txt nvidia-ml-py"
step 240 "GPU tests: NCCL DDP, real NVML, lanes on the GPUs" "$py" -m pytest -q -rs \
    -p no:cacheprovider tests/test_distributed.py::test_nccl_world_size_one_trains_a_run_on_the_gpu \
    tests/test_telemetry.py::test_real_gpus_are_read_where_there_are_some \
    tests/test_service_lanes.py::test_gpu_lanes_train_a_sweep_on_every_gpu_and_record_gpu_figures
step 20 "cnnlab engine status (the GPUs, read through NVML)" bash -c \
    "'$py' -m engine.cli engine start --runs-dir /tmp/gpu-scale-runs --devices all && '$py' -m engine.cli engine status --runs-dir /tmp/gpu-scale-runs; '$py' -m engine.cli engine stop --runs-dir /tmp/gpu-scale-runs"
gpus=$("$py" -c "import torch; print(torch.cuda.device_count())")
if [ "$gpus" -ge 2 ]; then
    step 180 "DDP over 2 GPUs (NCCL, world size 2) on shapes" "$py" -m engine.cli \
        train --preset quick-shapes --device cuda --epochs 2 --nproc-per-node 2 \
        --runs-dir /tmp/gpu-scale-runs
    step 240 "the same through the engine (GPUs per run = 2: two GPU lanes held)" bash -c \
        "'$py' -m engine.cli train --preset quick-shapes --device cuda --epochs 2 \
         --nproc-per-node 2 --detach --runs-dir /tmp/gpu-scale-engine \
         && '$py' -m engine.cli watch --runs-dir /tmp/gpu-scale-engine; \
         '$py' -m engine.cli runs --runs-dir /tmp/gpu-scale-engine; \
         '$py' -m engine.cli engine stop --runs-dir /tmp/gpu-scale-engine"
else
    echo; echo "===== DDP over 2 GPUs: skipped, this machine has $gpus GPU(s)"
fi
