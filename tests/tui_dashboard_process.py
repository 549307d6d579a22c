"""A dashboard in its own process, driven by the pilot, for tests of what happens to runs
when a dashboard's process goes (SIGHUP) and of several dashboards on one runs folder.

    python tests/tui_dashboard_process.py RUNS DATA_ROOT EPOCHS

It launches a tiny `shapes` run from the New run form, prints `RUNNING <queue id> <run id>`
once the engine trains it, then stays open (headless) until its process is told to go,
and prints `EXIT <code>` when the app has closed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tui_helpers import TINY_FORM, fill_form, open_new_run, wait_for  # noqa: E402

from cnnlab_tui.app import CnnlabApp  # noqa: E402


async def main(runs: Path, data_root: Path, epochs: int) -> int:
    app = CnnlabApp(data_root=data_root, runs_dir=runs)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_new_run(app, pilot)
        fill_form(form, {**TINY_FORM, "epochs": epochs, "max_train_batches": 2})
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: app.runner.submitted, timeout=120, what="queued")
        [run] = app.runner.submitted
        await wait_for(pilot, lambda: run.state == "running" and run.metrics, timeout=120,
                       what="the first epoch")  # fmt: skip
        print("RUNNING", run.queue_id, run.run_id, flush=True)
        while app.return_code is None:  # until SIGHUP (or any quit) closes the app
            await pilot.pause(0.1)
    print("EXIT", app.return_code, flush=True)
    return 0


if __name__ == "__main__":
    runs_dir, data, count = sys.argv[1:4]
    sys.exit(asyncio.run(main(Path(runs_dir), Path(data), int(count))))
