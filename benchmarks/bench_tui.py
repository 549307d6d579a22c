"""Does training through the background engine cost time? The same run from a foreground
`cnnlab train` and submitted to the engine the way the dashboard submits it.

    .venv/bin/python benchmarks/bench_tui.py                  # 2 rounds x 3 epochs, vehicles
    .venv/bin/python benchmarks/bench_tui.py --rounds 3 --epochs 2 --threads 2

Each round trains the same config twice, alternating: once through the CLI command
(`engine.cli.main(["train", ...])`, exactly what `cnnlab train` runs, its progress output
sent to /dev/null) and once submitted with `EngineClient.submit_run` to an engine started
for the benchmark's runs folder, with a subscriber reading every event as the dashboard's
Live view does. Epoch time is the training pass the trainer itself records (`seconds` in
metrics.jsonl), so both sides are measured by the same clock in the same place; the whole
run's wall time is shown too (for the engine: submit → its EntryFinished). Both sides use
the same number of torch threads (the engine through OMP_NUM_THREADS). Goal: the engine's
median epoch within 5 % of the CLI's. The load average is printed before and after: the
machine is shared.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from _harness import format_table, machine_header, set_threads

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = next(
    (p for p in (REPO.parent / "shared" / "data" / "vehicles", Path("/work/shared/data/vehicles"))
     if p.is_dir()),
    REPO.parent / "shared" / "data" / "vehicles",
)  # fmt: skip


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
    fresh = [p for p in fresh if not p.name.startswith(".")]
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


class EngineSide:
    """An engine for the runs folder and a subscriber reading all it sends (like Live)."""

    def __init__(self, runs_dir: Path) -> None:
        from engine.service.client import EngineClient

        self.client = EngineClient.connect(runs_dir, start=True, client="bench_tui")
        self.subscription = self.client.subscribe()
        self.finished: dict[str, object] = {}
        self.events = 0
        self._done = threading.Condition()
        threading.Thread(target=self._read, name="bench subscriber", daemon=True).start()

    def _read(self) -> None:
        from engine.service.events import EntryFinished

        for update in self.subscription:
            self.events += 1
            if isinstance(update.event, EntryFinished):
                with self._done:
                    self.finished[update.queue_id] = update.event
                    self._done.notify_all()

    def run(self, config: dict, timeout: float) -> tuple[list[float], float]:
        start = time.perf_counter()
        queue_id = self.client.submit_run(dict(config))["queue_id"]
        with self._done:
            if not self._done.wait_for(lambda: queue_id in self.finished, timeout):
                self.client.cancel(queue_id)
                raise SystemExit(f"the engine's run did not finish within {timeout:.0f} s")
        wall = time.perf_counter() - start
        end = self.finished[queue_id]
        if end.status != "completed":
            raise SystemExit(f"engine run ended {end.status}: {end.error}")
        from engine.runs import RunStore

        run_dir = RunStore(self.client.paths.runs_dir).get(end.run_ids[0]).path
        return epoch_seconds(run_dir), wall

    def close(self) -> None:
        self.subscription.close()
        with contextlib.suppress(Exception):
            self.client.stop(cancel=True)
        self.client.close()
        from engine.service.client import wait_until_stopped

        wait_until_stopped(self.client.paths.runs_dir, 60)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="vehicles folder")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (≥ 1)")
    parser.add_argument("--rounds", type=int, default=2, help="CLI/engine pairs (≥ 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per engine run")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.rounds < 1:
        parser.error("--epochs and --rounds must be ≥ 1")
    if not args.data_root.is_dir():
        parser.error(f"no vehicles data at {args.data_root} (pass --data-root)")
    return args


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min)"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    threads = set_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the engine's torch uses as many
    print(machine_header("cnnlab bench_tui: epoch time from `cnnlab train` vs the engine"))
    print(f"before: {load_text()}")
    config = config_dict(args.data_root, args.epochs)
    print(f"vehicles, 32 px, conv, batch 64, {args.epochs} epochs x {args.rounds} rounds each")
    names = ("cnnlab train", "engine")
    epochs: dict[str, list[float]] = {name: [] for name in names}
    walls: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="cnnlab-bench-tui-") as scratch:
        runs = Path(scratch) / "runs"
        runs.mkdir()
        engine = EngineSide(runs)
        try:
            for _ in range(args.rounds):  # alternate, so load drifts hit both sides alike
                for name, launch in (
                    ("cnnlab train", lambda: run_cli(config, runs)),
                    ("engine", lambda: engine.run(config, args.timeout)),
                ):
                    seconds, wall = launch()
                    epochs[name] += seconds
                    walls[name].append(wall)
        finally:
            engine.close()
    cli, served = (statistics.median(epochs[k]) for k in names)
    rows = [
        [name, f"{statistics.median(epochs[name]):.2f}", f"{statistics.median(walls[name]):.1f}"]
        + [" ".join(f"{s:.2f}" for s in epochs[name])]
        for name in names
    ]
    print(format_table(["launched from", "median epoch s", "run wall s", "epochs"], rows))
    print(f"after: {load_text()}; the subscriber read {engine.events} events")
    difference = (served - cli) / cli
    verdict = "within" if difference <= 0.05 else "outside"
    print(f"engine vs CLI: {difference:+.1%} per epoch ({verdict} the ≤ 5 % goal)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
