#!/usr/bin/env bash
# The GPU figures of issue 17 in one run (~5 min on an H100/H200; the lab sweep is opt-in).
#
#   benchmarks/run_gpu_recipes.sh CIFAR10_DIR [LOG]          # cifar10-fast, 5 seeds
#   LAB_SWEEP=1 benchmarks/run_gpu_recipes.sh CIFAR10_DIR    # + the lab's CIFAR-10 runs
#
# Runs from the repository root with whatever python3 holds torch (the engine is imported
# from the checkout). Each step has its own time limit, so one that hangs cannot eat the
# others' time. The CIFAR-10 here are JPEG (q75) copies: accuracies may differ slightly
# from the original binaries'.
#
# Steps: CUDA tests of the recipe code; `cifar10-fast` through `cnnlab train` (bf16 +
# channels-last, seeds 0-4; summarize.py prints mean ± std of test accuracy and
# train_seconds); the same recipe as a bare loop (benchmarks/recipes/cifar10_airbench.py:
# airbench's alternating flip and 2-px translation, timed as airbench times); with
# LAB_SWEEP=1 the lab's experiments at the lab's epochs (Adam 1e-3, batch 512) as sweeps,
# with the total time — estimated ~15 min on an H100 (resnet18/plain18 200 epochs each).
set -u
cifar=${1:?CIFAR-10 folder}
log=${2:-gpu_recipes.log}
runs=${RUNS:-/tmp/cnnlab-gpu-recipes}
source "$(dirname "$0")/gpu_common.sh"
gpu_setup "$log"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
step 120 "CUDA recipe tests" "$py" -m pytest -q -p no:cacheprovider tests/test_trainer_speed.py \
    tests/test_airbench.py
for seed in 0 1 2 3 4; do  # seed 0 also decodes the JPEGs once (not in train_seconds)
    step 150 "cifar10-fast seed $seed" "$py" -m engine train --preset cifar10-fast \
        --data-root "$cifar" --amp --channels-last --seed "$seed" --runs-dir "$runs" --quiet
done
step 30 "cifar10-fast summary" "$py" benchmarks/recipes/summarize.py "$runs" cifar10-fast
step 120 "airbench-style bare loop, 5 seeds" "$py" benchmarks/recipes/cifar10_airbench.py \
    --data-root "$cifar" --device cuda --seeds 5 --warmup-run

if [ "${LAB_SWEEP:-0}" = 1 ]; then
    began=$SECONDS
    lab=(--dataset cifar10 --data-root "$cifar" --batch-size 512 --lr 1e-3 --amp
         --channels-last --runs-dir "$runs/lab")
    step 600 "lab-conv + lab-dilated, 100 epochs" "$py" -m engine sweep --preset lab-conv \
        "${lab[@]}" --epochs 100 --grid model=conv,dilated
    step 300 "lab-residual, 25 epochs" "$py" -m engine sweep --preset lab-residual \
        "${lab[@]}" --epochs 25
    step 1200 "lab-resnet18 + lab-plain18, 200 epochs" "$py" -m engine sweep \
        --preset lab-resnet18 "${lab[@]}" --epochs 200 --grid model=resnet18,plain18
    echo "lab sweeps: $((SECONDS - began)) s in total"
    step 30 "lab summary" "$py" benchmarks/recipes/summarize.py "$runs/lab"
fi
