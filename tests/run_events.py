"""Writing run folders from made-up events, the way a `Trainer` does it.

The trainer owns a run's one `SummaryTracker`: each event goes into it first and then to the
subscribers, the `RunWriter` among them (which writes what the tracker holds); a run ends
with `tracker.finish(status, error)`, whose summary `RunFinished` carries.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.events import RunFinished
from engine.runs import RunWriter, SummaryTracker


def run_recorder(
    run_dir: Path,
    run_id: str,
    config: dict[str, Any],
    *,
    task: str | None = None,
    started_at: str | None = None,
) -> Callable[[Any], None]:
    """`record(event)` for one run: tracker first (RunFinished: `finish`), then the writer.
    A RunFinished's own summary is ignored: the tracker's is what a trainer would send."""
    tracker = SummaryTracker(run_id, config, task=task, started_at=started_at)
    writer = RunWriter(run_dir, tracker)

    def record(event: Any) -> None:
        if isinstance(event, RunFinished):
            summary = tracker.finish(event.status, event.error)
            event = RunFinished(event.run_id, event.status, event.error, summary)
        else:
            tracker.apply(event)
        writer(event)

    record.tracker = tracker  # type: ignore[attr-defined]
    record.writer = writer  # type: ignore[attr-defined]
    return record
