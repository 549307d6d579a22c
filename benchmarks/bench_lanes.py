"""A sweep on a 2-lane CPU engine against the same sweep on a 1-lane one: the wall-time ratio.

    python benchmarks/bench_lanes.py                 # 4 points, 2 lanes vs 1, 2 rounds
    python benchmarks/bench_lanes.py --points 4 --lanes 2 --rounds 3 --epochs 2
    python benchmarks/bench_lanes.py --one-lane-threads 1   # the baseline on one core only

Each contender is a real background engine (`cnnlab engine start --cpu-lanes N`, in its own
process, a fresh runs folder) given one `cnnlab sweep` of `--points` learning rates on the
synthetic `shapes` set; the time is from submitting the sweep to its end (not the engine's
start-up, nor its first run: a one-batch warm-up that imports torch and makes the data).
Both use every core and no more: the 1-lane engine runs each point with all the
cores' threads, the N-lane engine N points at once with cores/N threads each (the lanes say
so, printed below) — no over-subscription. On a machine other work keeps busy, torch's
OpenMP threads of the 1-lane run wait for each other at every operation (a descheduled
thread stalls its peers), so the default baseline loses more than the cores' share;
`--one-lane-threads 1` measures the lanes against one single-threaded lane instead (pure
parallelism: 1/lanes is the ideal there too, with half the cores idle). The contenders
alternate round by round (A B A B) and the ratio is of the medians: < 1 means the lanes
win; 0.5 is the ideal on 2 lanes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _harness import format_table, machine_header, median

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=4, help="sweep points (learning rates)")
    parser.add_argument("--lanes", type=int, default=2, help="CPU lanes of the contender")
    parser.add_argument("--rounds", type=int, default=2, help="A B rounds (median of each)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument(
        "--one-lane-threads", type=int, default=None, metavar="T",
        help="threads of the 1-lane engine's runs (default: every core)",
    )  # fmt: skip
    parser.add_argument(
        "--batches", type=int, default=None, help="train batches per epoch (default: all 38)"
    )
    parser.add_argument(
        "--widths",
        type=lambda text: [int(w) for w in text.split(",")],
        default=[16, 32, 64],
        help="the conv net's channels (default 16,32,64)",
    )
    args = parser.parse_args(argv)
    for name in ("points", "lanes", "rounds", "epochs", "one_lane_threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be ≥ 1")
    return args


def sweep_spec(points: int, epochs: int, batches: int | None, widths: list[int]):
    """`points` learning rates of the lab's conv net on shapes at 32 px (seconds each). The
    lanes of one engine are threads of one process: points must spend their time in torch's
    kernels (which release the GIL), not in Python, for two of them to run at once."""
    from engine.sweeps import build_spec
    from engine.trainer.config import TrainConfig

    base = TrainConfig(
        dataset="shapes", image_size=32, model="conv", model_options={"widths": widths},
        epochs=epochs, batch_size=64, device="cpu", max_train_batches=batches,
    )  # fmt: skip
    return build_spec(base, {"lr": [1e-3 * (i + 1) for i in range(points)]}, [0])


def time_sweep(lanes: int, spec, threads: int) -> tuple[float, list[tuple[str, int]]]:
    """Seconds one engine with `lanes` CPU lanes takes for `spec`, and its lanes' threads
    (`threads`: what a lane that sets none runs with)."""
    from engine.service.client import EngineClient

    runs = Path(tempfile.mkdtemp(prefix=f"bench-lanes-{lanes}-"))
    before = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # a single lane sets none itself
    try:
        client = EngineClient.connect(runs, start=True, idle_timeout=0, cpu_lanes=lanes)
        try:
            found = client.status()["lanes"]
            seen = [(lane["name"], lane["threads"] or threads) for lane in found]
            with client.subscribe() as updates:
                # untimed: the engine imports torch and makes the data set on its first run
                warmup = spec.base.replace(epochs=1, max_train_batches=1).to_dict()
                _wait_finished(updates, client.submit_run(warmup)["queue_id"])
                start = time.perf_counter()
                queue_id = client.submit_sweep(spec.to_dict())["queue_id"]
                status = _wait_finished(updates, queue_id)
                seconds = time.perf_counter() - start
            if status != "completed":
                raise SystemExit(f"the sweep on {lanes} lane(s) ended {status}; see {runs}")
            client.stop(wait=True)
        finally:
            client.close()
        _wait_gone(runs)
    finally:
        if before is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = before
    shutil.rmtree(runs, ignore_errors=True)
    return seconds, seen


def _wait_gone(runs: Path, timeout: float = 60) -> None:
    """Until the stopped engine has exited (its lock dropped): it must not share the cores
    with the next contender."""
    from engine.service import lock
    from engine.service.paths import EnginePaths

    paths, deadline = EnginePaths.of(runs), time.monotonic() + timeout
    while lock.held(paths) and time.monotonic() < deadline:
        time.sleep(0.05)


def _wait_finished(updates, queue_id: str, timeout: float = 3600) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        update = updates.next(timeout=1.0)
        if update is None:
            continue
        if type(update.event).__name__ == "EntryFinished" and update.queue_id == queue_id:
            return update.event.status
    raise SystemExit(f"the sweep did not finish in {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    from engine.service.lanes import machine_cores

    args = parse_args(argv)
    cores = machine_cores()
    if args.lanes > cores:
        raise SystemExit(f"--lanes {args.lanes} needs as many cores; this machine has {cores}")
    spec = sweep_spec(args.points, args.epochs, args.batches, args.widths)
    print(machine_header(f"bench_lanes: a {args.points}-point sweep, {args.lanes} lanes vs 1"))
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    times: dict[int, list[float]] = {1: [], args.lanes: []}
    lanes_seen: dict[int, list] = {}
    for _ in range(args.rounds):
        for lanes in (1, args.lanes):
            threads = cores if lanes > 1 else args.one_lane_threads or cores
            seconds, lanes_seen[lanes] = time_sweep(lanes, spec, threads)
            times[lanes].append(seconds)
    rows = []
    for lanes in (1, args.lanes):
        threads = ", ".join(f"{name}: {count} threads" for name, count in lanes_seen[lanes])
        rows.append([str(lanes), f"{median(times[lanes]):.1f}",
                     " ".join(f"{t:.1f}" for t in times[lanes]), threads])  # fmt: skip
    print(format_table(["lanes", "median s", "rounds s", "each lane"], rows))
    ratio = median(times[args.lanes]) / median(times[1])
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"ratio ({args.lanes} lanes / 1 lane): {ratio:.2f}   (ideal {1 / args.lanes:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
