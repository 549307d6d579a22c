"""What the dashboard says when a run or a sweep starts or ends, as plain data.

The app turns engine events into notifications; keeping the wording here (pure functions,
no widgets) keeps it consistent and testable. Messages are plain text — never markup —
because labels and engine errors may quote `[4,8]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.events import RunFinished, RunStarted


@dataclass(frozen=True)
class Notice:
    """One notification: its text, severity (information|warning|error) and seconds shown."""

    message: str
    severity: str = "information"
    timeout: float = 5.0


def notice_for(event: Any, label: str, *, in_sweep: bool = False) -> Notice | None:
    """The notice for an engine event of run `label`, or None when it deserves none.

    A run inside a sweep is announced only when it goes wrong: the sweep announces itself.
    """
    from engine.sweeps.events import SweepFinished  # see QueuedSweep.apply

    match event:
        case RunStarted():
            return None if in_sweep else Notice(f"Run started: {label}", timeout=3)
        case RunFinished(status="completed"):
            return None if in_sweep else Notice(f"Run completed: {label}", timeout=4)
        case RunFinished(status="cancelled"):
            return Notice(f"Run cancelled: {label}", "warning")
        case RunFinished():
            reason = event.error or event.status
            return Notice(f"Run {event.status}: {label}\n{reason}", "error", timeout=10)
        case SweepFinished():
            text = f"Sweep {event.status}: {event.completed}/{event.total} runs\n{event.sweep_id}"
            if event.status == "completed":
                return Notice(text, timeout=6)
            if event.status == "cancelled":
                return Notice(text, "warning")
            return Notice(f"{text}\n{event.failed} run(s) failed", "error", timeout=10)
    return None


def engine_status_text(runner: Any, *, lost: bool = False) -> str:
    """What the mode bar says about the background engine: `● 2 runs in engine` while it
    has work (they go on after the dashboard closes), `⚠ engine lost` when it went away."""
    count = runner.active_count
    if count:
        return f"● {count} run{'s' if count != 1 else ''} in engine"
    if lost and not runner.attached:
        return "⚠ engine lost"
    return ""
