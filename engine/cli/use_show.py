"""What `cnnlab show` adds about using a run: its evaluations and its explanation."""

from __future__ import annotations

from rich.console import Console


def print_use(console: Console, record) -> None:
    """The run's evaluations (newest first) and where its explanation is, if any."""
    from engine.use.records import headline, list_evaluations, read_explanation

    for entry in list_evaluations(record.path):
        stamp = str(entry.get("created_at") or "")[:16].replace("T", " ")
        checkpoint = entry.get("checkpoint")
        where = f"{checkpoint} checkpoint, " if checkpoint else ""
        console.print(f"evaluation: {headline(entry)} ({where}{stamp}) · {entry['file']}")
    explanation = read_explanation(record.path)
    if explanation:
        count = explanation.get("errors")
        what = f"{count} misclassified test images" if count is not None else "worst test images"
        console.print(f"explained: {what} · {record.path / 'explain'}")
