"""How close is the trainer's pre-training memory estimate to a real training step?

For each case a fresh Python process builds the model, runs one forward + backward + Adam
step on a random batch on the CPU, and reports the peak resident anonymous memory it added
(`RssAnon`, sampled every 0.5 ms; file-backed pages that a busy machine evicts would make
`ru_maxrss` read low); the same config goes through `engine.trainer.resources.step_memory` (a
meta-device forward, no memory). The ratio estimate / measured is what
`ACTIVATION_FACTOR` was chosen from (see that module's docstring).

    python benchmarks/bench_memory_estimate.py            # the four cases below
    python benchmarks/bench_memory_estimate.py --case conv:128:64
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CASES = ("conv:128:64", "dilated:96:64", "resnet18:64:32", "alexnet:224:32")

_CHILD = """
import sys, threading, time, torch
from engine.models import create_model
from engine.trainer import TrainConfig
from engine.trainer.resources import step_memory
torch.set_num_threads(1)

def anon():  # resident anonymous memory: file pages evicted under pressure do not count
    for line in open("/proc/self/status"):
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) * 1024

name, size, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
estimate = step_memory(TrainConfig(model=name, image_size=size, batch_size=batch), 3, batch)
model = create_model(name, num_classes=3, in_channels=3, image_size=size)
optimizer = torch.optim.Adam(model.parameters())
x, y = torch.randn(batch, 3, size, size), torch.randint(0, 3, (batch,))
before, peak, done = anon(), [0], threading.Event()

def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.0005)

sampler = threading.Thread(target=sample)
sampler.start()
torch.nn.functional.cross_entropy(model(x), y).backward()
optimizer.step()
done.set()
sampler.join()
print(estimate, max(peak[0], anon()) - before)
"""


def measure(case: str) -> tuple[int, int]:
    """(estimated bytes, measured peak bytes) of one `model:size:batch` case."""
    name, size, batch = case.split(":")
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, name, size, batch],
        cwd=REPO, capture_output=True, text=True,
        env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"measuring {case} failed:\n{result.stderr[-2000:]}")
    estimate, measured = (int(v) for v in result.stdout.split())
    return estimate, measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="model:image_size:batch (repeatable)")
    args = parser.parse_args(argv)
    print(f"{'case':18} {'estimate':>10} {'measured':>10} {'ratio':>6}")
    for case in args.case or CASES:
        estimate, measured = measure(case)
        print(f"{case:18} {estimate / 2**30:9.2f}G {measured / 2**30:9.2f}G "
              f"{estimate / measured:6.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
