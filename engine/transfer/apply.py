"""One call for the trainer: resolve `init_from`, check the architecture, load, report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn

from engine.transfer.load import load_weights
from engine.transfer.report import TransferError, TransferReport
from engine.transfer.sources import resolve_source


def initialise(
    model: nn.Module,
    init_from: str,
    *,
    classes: Sequence[str] | None,
    runs_dir: Path | str | None = None,
    download: bool = False,
) -> TransferReport:
    """Load the weights `init_from` names into `model` (in place) and return the report.

    A source that says which model it is (a run, torchvision) must be the same model as
    this one; other differences surface as key or shape mismatches in `load_weights`.
    """
    source = resolve_source(init_from, runs_dir, download=download)
    name = getattr(model, "model_name", None)
    if source.model and name and source.model != name:
        raise TransferError(
            f"cannot initialise {name} from {source.label}: it holds {source.model} weights"
        )
    report = load_weights(
        model,
        source.state,
        source=source.label,
        source_classes=source.classes,
        target_classes=list(classes) if classes is not None else None,
    )
    return report
