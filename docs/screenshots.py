"""Regenerate the README screenshots of the dashboard (SVG, from Textual's `save_screenshot`).

    .venv/bin/python docs/screenshots.py            # writes docs/screenshots/*.svg
    .venv/bin/python docs/screenshots.py --out /tmp/shots

Everything shown is real: in a throwaway folder, two tiny runs on the synthetic `shapes`
set are trained through the engine, then the dashboard is driven headless
(`App.run_test(size=(100, 32))`): a 2 × 2 sweep is typed into New run and launched, Live is
captured while it trains, and Runs, Run detail, Compare (two runs, and the sweep grouped
by setting) and Conv lab are captured once it is done. About a minute on two CPU cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "screenshots"
SIZE = (100, 32)
MAX_SVG_BYTES = 300_000
TINY: dict[str, Any] = {
    "dataset": "shapes",
    "image_size": 24,
    "model": "conv",
    "model_options": {"widths": [8, 16]},
    "epochs": 4,
    "batch_size": 32,
    "max_train_batches": 6,
    "device": "cpu",
}
# The same tiny settings as the New run form's fields, plus the sweep typed into it.
SWEEP_FORM: dict[str, Any] = {
    "dataset": "shapes",
    "image_size": 24,
    "option-widths": "8, 16",
    "epochs": 4,
    "batch_size": 32,
    "max_train_batches": 6,
    "device": "cpu",
    "lr": "3e-3, 1e-3",
    "seeds": "2",
}
TWO_RUNS = ({"lr": 3e-3, "name": "adam-3e-3"}, {"lr": 3e-2, "optimizer": "sgd", "name": "sgd-3e-2"})


def train_runs(runs_dir: Path) -> list[str]:
    """Two completed runs that differ in optimizer and learning rate (for Compare)."""
    from engine.trainer.config import TrainConfig
    from engine.trainer.loop import Trainer

    run_ids = []
    for changes in TWO_RUNS:
        trainer = Trainer(TrainConfig(**TINY, **changes), runs_dir=runs_dir)
        status = trainer.run()
        if status != "completed":
            raise SystemExit(f"training {changes} ended {status}: {trainer.error}")
        run_ids.append(trainer.run_id)
        print(f"trained {trainer.run_id}")
    return run_ids


async def wait_until(pilot: Any, predicate: Callable[[], Any], what: str, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            status = pilot.app.screen.query("#launch-status")
            said = f" (the form says: {status.first().render()})" if status else ""
            raise SystemExit(f"timed out waiting for {what}{said}")
        await pilot.pause(0.1)
    await pilot.pause(0.3)  # let the last redraw land


def save(app: Any, out: Path, name: str) -> None:
    path = app.save_screenshot(name, str(out))
    size = Path(path).stat().st_size
    flag = "" if size < MAX_SVG_BYTES else f"  (over {MAX_SVG_BYTES // 1000} KB!)"
    print(f"wrote {path} ({size / 1000:.0f} KB){flag}")


async def capture(out: Path, runs_dir: Path, run_ids: list[str]) -> None:
    from cnnlab_tui.app import CnnlabApp
    from cnnlab_tui.widgets.forms import FormField

    app = CnnlabApp(data_root="data", runs_dir=runs_dir)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await wait_until(pilot, lambda: screen.query("#field-option-widths"), "New run")
        for key, value in SWEEP_FORM.items():
            screen.query_one(f"#field-{key}", FormField).set_value(value)
        status = screen.query_one("#launch-status")
        await wait_until(
            pilot, lambda: "= 4 runs" in str(status.render()), "the sweep plan", timeout=20
        )
        screen.query_one("#field-lr", FormField).control.focus()
        await pilot.pause(0.5)
        save(app, out, "new_run.svg")

        await pilot.press("ctrl+s")
        runner = app.runner

        def second_point_halfway() -> bool:
            sweep = runner.runs[0] if runner.runs else None
            return sweep is not None and sweep.done >= 1 and len(sweep.metrics) >= 2

        await wait_until(pilot, second_point_halfway, "the sweep's second run")
        save(app, out, "live.svg")
        await wait_until(pilot, lambda: not runner.active, "the sweep to finish")
        sweep = runner.runs[0]
        if sweep.status != "completed":
            raise SystemExit(f"the sweep ended {sweep.status}: {sweep.error}")

        from engine.runs import RunStore
        from engine.runs.labels import make_labels

        RunStore(runs_dir).set_labels(run_ids[0], make_labels("baseline", tags="demo"))
        await pilot.press("f3")
        runs_screen = app.screen
        table = runs_screen.query_one("#runs-table")
        # two runs and the sweep's group row; then the group is opened on its four runs
        await wait_until(pilot, lambda: table.row_count == 3, "the runs and the sweep's group")
        runs_screen.toggle_group(sweep.sweep_id, expand=True)
        await wait_until(pilot, lambda: table.row_count == 7, "the sweep's runs in its group")
        save(app, out, "runs.svg")

        app.open_detail(run_ids[0])
        await wait_until(pilot, lambda: getattr(app.screen, "record", None), "Run detail")
        save(app, out, "detail.svg")
        await pilot.press("escape")

        app.open_compare(run_ids)
        await wait_until(
            pilot, lambda: len(getattr(app.screen, "selected_records", [])) == 2, "Compare"
        )
        save(app, out, "compare.svg")
        await pilot.press("escape")

        app.open_compare([sweep.sweep_id])
        await wait_until(pilot, lambda: getattr(app.screen, "grouped", None), "the grouped sweep")
        save(app, out, "compare_sweep.svg")
        await pilot.press("escape")

        await pilot.press("f5")
        await wait_until(pilot, lambda: app.screen.query("#learn-chart"), "Conv lab")
        await pilot.press("ctrl+t")  # the HDC tab: M_i table and gridding map
        await pilot.pause(0.5)
        save(app, out, "conv_lab.svg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the SVGs")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(REPO))
    here = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="cnnlab-shots-") as tmp:
        os.chdir(tmp)  # relative paths (runs/…) read better in the pictures
        try:
            runs_dir = Path("runs")
            Path("data").mkdir()  # the form's data root (shapes is drawn, not read)
            run_ids = train_runs(runs_dir)
            asyncio.run(capture(out, runs_dir, run_ids))
        finally:
            os.chdir(here)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
