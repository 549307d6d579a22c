"""How fast cnnlab starts: `cnnlab runs` over a runs folder of 50 runs, the other reading
commands (`--help`, `show`, `compare`, `sweeps`, `hdc`, `datasets`, `report --help`, `engine
status`) and (`--dashboard`) the dashboard's first paint, each against `python -c "import
torch"` measured in the same run (none of these commands needs torch).

Every sample is a fresh interpreter (cold-ish: a new process each time, the OS file cache
warm), the contenders interleaved A B A B … so a burst of load from someone else hits both;
the figures are medians and the ratio is taken within this run. The runs folder is made in a
temporary directory from real run events (RunStarted, EpochEnd × 3, RunFinished) through the
engine's own writer, so `cnnlab runs` reads exactly what training leaves behind; the first
runs are tagged as one sweep for `cnnlab sweeps`. `cnnlab datasets` probes a data root of
class folders (3 × 300 files), hazy/clear pairs (2 × 200) and CIFAR-10 class folders,
written as empty files: a probe lists names, it never opens an image.

First paint is measured as a person sees it: `cnnlab` (no command) starts in a fresh
process on a pseudo-terminal of 80×24, and the clock stops when the first screen's mode bar
("F5 Conv lab") has been written to that terminal — no hook inside the app.

    python benchmarks/bench_startup.py                 # 50 runs, 7 repeats
    python benchmarks/bench_startup.py --repeats 11 --runs 200
    python benchmarks/bench_startup.py --dashboard     # also the dashboard's first paint

Target on the development VM: `cnnlab runs` ≤ 0.5 s (it was 4.3 s while the CLI imported
torch for every command); the dashboard's first paint ≤ 1.5 s.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUNS_TARGET_S = 0.5
FIRST_PAINT_TARGET_S = 1.5
# What the `cnnlab` console script runs (pyproject: cnnlab = "cnnlab_tui.launcher:main").
CNNLAB = "import sys; from cnnlab_tui.launcher import main; sys.exit(main(sys.argv[1:]))"
FIRST_SCREEN_MARK = b"Conv lab"  # in the mode bar every screen draws on its top line
TERMINAL_SIZE = (24, 80)  # rows, columns
PAINT_TIMEOUT_S = 60.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="runs in the folder (50)")
    parser.add_argument("--repeats", type=int, default=7, help="samples per command (≥ 5)")
    parser.add_argument(
        "--dashboard", action="store_true", help="also measure the dashboard's first paint"
    )
    args = parser.parse_args(argv)
    if args.repeats < 5:
        parser.error(
            f"--repeats must be at least 5 (medians of fewer mean little), got {args.repeats}"
        )
    if args.runs < 1:
        parser.error(f"--runs must be at least 1, got {args.runs}")
    return args


def write_runs(root: Path, count: int) -> None:
    """`count` small completed classification runs, written as a trainer writes them."""
    from engine.events import EpochEnd, RunFinished, RunStarted
    from engine.runs import RunWriter, SummaryTracker
    from engine.trainer.config import TrainConfig

    for index in range(count):
        run_id = f"20250101-{index // 60:02d}{index % 60:02d}00-conv-shapes-{index:04x}"
        config = TrainConfig(epochs=3, lr=10 ** -(1 + index % 3), seed=index).to_dict()
        tracker = SummaryTracker(run_id, config, task="classify")
        writer = RunWriter(root / run_id, tracker)
        events: list[object] = [
            RunStarted(run_id, config, str(root / run_id), "classify", "cpu", 1234,
                       ["circle", "square", "triangle"], 2400, 600, 3),
        ]  # fmt: skip
        for epoch in (1, 2, 3):
            acc = 0.3 + 0.2 * epoch + 0.001 * index
            row = {"epoch": epoch, "train_loss": 1 / epoch, "train_acc": acc,
                   "test_loss": 1.1 / epoch, "test_acc": acc - 0.05, "lr": config["lr"],
                   "seconds": 2.0, "images_per_second": 1200.0,
                   "per_class_acc": [acc, acc, acc], "confusion": [[9, 1, 0], [1, 8, 1],
                                                                   [0, 1, 9]]}  # fmt: skip
            events.append(EpochEnd(run_id, epoch, row))
        for event in events:
            tracker.apply(event)
            writer(event)
        writer(RunFinished(run_id, "completed", None, tracker.finish("completed", None)))


SWEEP_ID = "sweep-bench"
SWEEP_RUNS = 6  # the first runs of the folder form one sweep (two settings × three seeds)


def tag_sweep(root: Path) -> None:
    """Make the first `SWEEP_RUNS` runs of `root` one sweep, as the sweep runner tags them."""
    from engine.sweeps.grid import SweepPoint
    from engine.sweeps.membership import write_membership

    for index, run_dir in enumerate(sorted(root.iterdir())[:SWEEP_RUNS]):
        point = SweepPoint(index, {"lr": 10 ** -(1 + index % 2)}, seed=index // 2)
        write_membership(run_dir, SWEEP_ID, point)


def write_data_root(root: Path) -> None:
    """A data root for `cnnlab datasets`: empty files under the layouts the probes know."""
    names = [f"vehicles/{c}/{i:03d}.jpg" for c in ("bus", "car", "truck") for i in range(300)]
    names += [f"dehaze/{side}/{i:03d}.png" for side in ("hazy", "clear") for i in range(200)]
    names += [
        f"cifar10/{split}/{c}/{i:03d}.png"
        for split in ("train", "test")
        for c in ("cat", "dog")
        for i in range(50)
    ]
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def _seconds(argv: list[str]) -> float:
    """Wall time of one fresh interpreter running `argv` (its output discarded). Exit 3 is
    `engine status` saying that no engine runs: an answer, not a failure."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"}
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 3):
        raise RuntimeError(f"{argv[3:]} exited {done.returncode}: {done.stderr[-400:]!r}")
    return seconds


def interleaved(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each command, called in turn A B A B …, after one warm-up round
    (so every sample finds the same OS file cache)."""
    for argv in commands.values():
        _seconds(argv)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, argv in commands.items():
            times[name].append(_seconds(argv))
    return times


def first_paint_seconds() -> float:
    """Seconds from starting `cnnlab` to its first screen on a pseudo-terminal (one sample)."""
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-paint-") as tmp:
        master, slave = pty.openpty()
        rows, cols = TERMINAL_SIZE
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {**os.environ, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
        env.pop("TEXTUAL", None)  # no devtools
        argv = [sys.executable, "-c", CNNLAB, "--data-root", tmp, "--runs-dir", f"{tmp}/runs"]
        start = time.perf_counter()
        child = subprocess.Popen(
            argv, stdin=slave, stdout=slave, stderr=slave, cwd=tmp, env=env,
            start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        seen = b""
        try:
            while FIRST_SCREEN_MARK not in seen:
                if time.perf_counter() - start > PAINT_TIMEOUT_S:
                    raise RuntimeError(f"no first screen after {PAINT_TIMEOUT_S:.0f} s")
                if select.select([master], [], [], 0.5)[0]:
                    try:
                        seen += os.read(master, 65536)
                    except OSError as exc:  # the terminal closed: the dashboard died
                        raise RuntimeError(f"the dashboard exited: {seen[-400:]!r}") from exc
            painted = time.perf_counter()
        finally:
            os.killpg(child.pid, signal.SIGKILL)  # it may still be importing torch
            child.wait()
            os.close(master)
    return painted - start


def measure_dashboard_first_paint(repeats: int) -> list[float] | None:
    """Seconds from starting `cnnlab` to the dashboard's first painted screen, one fresh
    process per sample (after one warm-up sample, like `interleaved`)."""
    first_paint_seconds()
    return [first_paint_seconds() for _ in range(repeats)]


def load_line() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "load average: unknown"
    return f"load average: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def reading_commands(runs: Path, data: Path, count: int) -> dict[str, list[str]]:
    """Row name → the cnnlab arguments of each reading command measured."""
    where = ["--runs-dir", str(runs)]
    first, second = sorted(p.name for p in runs.iterdir())[:2]
    return {
        f"cnnlab runs ({count} runs)": ["runs", *where],
        "cnnlab --help": ["--help"],
        "cnnlab show latest": ["show", "latest", *where],
        "cnnlab compare (2 runs)": ["compare", first, second, *where],
        "cnnlab sweeps (1 sweep)": ["sweeps", *where],
        "cnnlab hdc 1 2 5 --map": ["hdc", "1", "2", "5", "--map"],
        "cnnlab datasets (3 sets)": ["datasets", "--data-root", str(data)],
        "cnnlab report --help": ["report", "--help"],
        "cnnlab engine status (none)": ["engine", "status", *where],
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print("bench_startup: cold-ish start (a fresh interpreter per sample), medians")
    print(f"CPU: {os.cpu_count()} logical cores, Python {sys.version.split()[0]}, {load_line()}")
    torch_name = 'python -c "import torch"'
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-runs-") as folder:
        runs, data = Path(folder) / "runs", Path(folder) / "data"
        write_runs(runs, args.runs)
        tag_sweep(runs)
        write_data_root(data)
        commands = {
            'python -c "pass"': [sys.executable, "-c", "pass"],
            torch_name: [sys.executable, "-c", "import torch"],
        }
        for name, cnnlab_args in reading_commands(runs, data, args.runs).items():
            commands[name] = [sys.executable, "-c", CNNLAB, *cnnlab_args]
        times = interleaved(commands, args.repeats)
    medians = {name: statistics.median(values) for name, values in times.items()}
    width = max(map(len, medians))
    print(f"  {'command':<{width}}  median    range (n={args.repeats})       × import torch")
    for name, value in medians.items():
        spread = f"{min(times[name]):.3f}–{max(times[name]):.3f}"
        ratio = value / medians[torch_name]
        print(f"  {name:<{width}}  {value:6.3f} s  {spread:>13} s  {ratio:6.2f}")
    runs_name = f"cnnlab runs ({args.runs} runs)"
    ratio = medians[runs_name] / medians[torch_name]
    verdict = "meets" if medians[runs_name] <= RUNS_TARGET_S else "misses"
    print(f"cnnlab runs / import torch: {ratio:.2f}")
    print(f"cnnlab runs: {medians[runs_name]:.3f} s {verdict} the target of ≤ {RUNS_TARGET_S} s")
    if args.dashboard:
        paint = measure_dashboard_first_paint(args.repeats)
        if paint is None:
            print("dashboard first paint: not measured yet")
        else:
            value = statistics.median(paint)
            verdict = "meets" if value <= FIRST_PAINT_TARGET_S else "misses"
            print(
                f"dashboard first paint: {value:.3f} s ({verdict} the target of ≤ "
                f"{FIRST_PAINT_TARGET_S} s), {value / medians[torch_name]:.2f} × import torch"
            )
    print(load_line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
