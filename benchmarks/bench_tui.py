"""Does the dashboard cost training time? The same run from `cnnlab train` and from the app.

    .venv/bin/python benchmarks/bench_tui.py                  # 2 rounds x 3 epochs, vehicles
    .venv/bin/python benchmarks/bench_tui.py --rounds 3 --epochs 2 --threads 2

Each round trains the same config twice, alternating: once through the CLI command
(`engine.cli.main(["train", ...])`, exactly what `cnnlab train` runs, its progress output
sent to /dev/null) and once submitted to the dashboard's run queue inside a headless Textual
Pilot with the Live screen showing (charts redraw on every progress event). Epoch time is
the training pass the trainer itself records (`seconds` in metrics.jsonl), so both sides
are measured by the same clock in the same place; the whole run's wall time is shown too.
Goal: the dashboard's median epoch within 5 % of the CLI's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from _harness import format_table, machine_header, set_threads

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "vehicles"


def config_dict(data_root: Path, epochs: int) -> dict:
    return {
        "dataset": "vehicles",
        "data_root": str(data_root),
        "model": "conv",
        "image_size": 32,
        "batch_size": 64,
        "epochs": epochs,
        "device": "cpu",
        "seed": 0,
    }


def epoch_seconds(run_dir: Path) -> list[float]:
    """The training-pass seconds of every epoch, as the trainer wrote them."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [float(r["seconds"]) for r in rows if "seconds" in r and "epoch" in r]


def newest_run(runs_dir: Path, before: set[Path]) -> Path:
    fresh = [p for p in runs_dir.iterdir() if p.is_dir() and p not in before]
    if len(fresh) != 1:
        raise SystemExit(f"expected one new run folder in {runs_dir}, found {len(fresh)}")
    return fresh[0]


def run_cli(config: dict, runs_dir: Path) -> tuple[list[float], float]:
    """`cnnlab train` in this process (same threads); returns (epoch seconds, wall)."""
    from engine.cli import main as cli_main

    argv = ["train", "--runs-dir", str(runs_dir)]
    for key in ("dataset", "data_root", "model", "image_size", "batch_size", "epochs"):
        argv += [f"--{key.replace('_', '-')}", str(config[key])]
    argv += ["--device", config["device"], "--seed", str(config["seed"])]
    before = set(runs_dir.iterdir()) if runs_dir.exists() else set()
    start = time.perf_counter()
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        code = cli_main(argv)
    wall = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"cnnlab train exited with {code}")
    return epoch_seconds(newest_run(runs_dir, before)), wall


async def _run_app(config: dict, runs_dir: Path, timeout: float) -> tuple[Path, float]:
    from cnnlab_tui.app import CnnlabApp

    app = CnnlabApp(data_root=Path(config["data_root"]).parent, runs_dir=runs_dir)
    async with app.run_test(headless=True, size=(120, 40)) as pilot:
        await pilot.pause()
        start = time.perf_counter()
        app.runner.submit(dict(config))
        await pilot.press("f2")  # the Live screen: the one that redraws during training
        deadline = time.monotonic() + timeout
        while not (app.runner.runs and app.runner.runs[0].state == "finished"):
            if time.monotonic() > deadline:
                app.runner.cancel_all()
                raise SystemExit(f"the dashboard run did not finish within {timeout:.0f} s")
            await pilot.pause(0.5)  # poll rarely: the benchmark must not load the UI itself
        wall = time.perf_counter() - start
        run = app.runner.runs[0]
        if run.status != "completed":
            raise SystemExit(f"dashboard run ended {run.status}: {run.error}")
        return Path(run.run_dir), wall


def run_dashboard(config: dict, runs_dir: Path, timeout: float) -> tuple[list[float], float]:
    """The same config through the app's run queue, headless; (epoch seconds, wall)."""
    run_dir, wall = asyncio.run(_run_app(config, runs_dir, timeout))
    return epoch_seconds(run_dir), wall


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="vehicles folder")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (≥ 1)")
    parser.add_argument("--rounds", type=int, default=2, help="CLI/dashboard pairs (≥ 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per app run")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.rounds < 1:
        parser.error("--epochs and --rounds must be ≥ 1")
    if not args.data_root.is_dir():
        parser.error(f"no vehicles data at {args.data_root} (pass --data-root)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    print(machine_header("cnnlab bench_tui: epoch time from `cnnlab train` vs the dashboard"))
    config = config_dict(args.data_root, args.epochs)
    print(f"vehicles, 32 px, conv, batch 64, {args.epochs} epochs x {args.rounds} rounds each")
    epochs: dict[str, list[float]] = {"cnnlab train": [], "dashboard": []}
    walls: dict[str, list[float]] = {"cnnlab train": [], "dashboard": []}
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-tui-") as scratch:
        runs = Path(scratch) / "runs"
        runs.mkdir()
        for _ in range(args.rounds):  # alternate, so load drifts hit both sides alike
            for name, launch in (
                ("cnnlab train", lambda: run_cli(config, runs)),
                ("dashboard", lambda: run_dashboard(config, runs, args.timeout)),
            ):
                seconds, wall = launch()
                epochs[name] += seconds
                walls[name].append(wall)
    cli, app = (statistics.median(epochs[k]) for k in ("cnnlab train", "dashboard"))
    rows = [
        [name, f"{statistics.median(epochs[name]):.2f}", f"{statistics.median(walls[name]):.1f}"]
        + [" ".join(f"{s:.2f}" for s in epochs[name])]
        for name in epochs
    ]
    print(format_table(["launched from", "median epoch s", "run wall s", "epochs"], rows))
    difference = (app - cli) / cli
    verdict = "within" if abs(difference) <= 0.05 else "outside"
    print(f"dashboard vs CLI: {difference:+.1%} per epoch ({verdict} the ±5 % goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
