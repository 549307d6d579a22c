"""Where a run's initial weights come from: `init_from` in words, resolved to a state dict.

`init_from` is one of
- `torchvision:NAME` — torchvision's ImageNet weights from the torch hub cache (`hub.py`);
- `RUN`, `RUN:last` or `RUN:best` — a cnnlab run (id, unique part of an id, folder or
  `latest`) and its last (default) or best checkpoint;
- a path to a `.pt` / `.pth` file: a cnnlab checkpoint or a bare state dict.
The classes of a run's weights come from its summary, so a head trained on other classes is
recognised and re-initialised (`load.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.transfer.hub import PREFIX, hub_model, load_hub_state
from engine.transfer.report import TransferError

CHECKPOINTS = {"last": "last.pt", "best": "best.pt"}


@dataclass(frozen=True)
class WeightSource:
    """Resolved weights: the state dict, a label for the report, and what is known of them."""

    label: str
    state: dict[str, torch.Tensor]
    classes: list[str] | None
    model: str | None = None
    model_options: dict[str, Any] | None = None
    run_id: str | None = None


def split_checkpoint(spec: str) -> tuple[str, str]:
    """`RUN:best` → (`RUN`, `best`); a spec without a known suffix means its last weights."""
    ref, sep, which = spec.rpartition(":")
    if sep and which in CHECKPOINTS:
        return ref, which
    return spec, "last"


def _state_of(payload: Any, path: Path) -> dict[str, torch.Tensor]:
    if isinstance(payload, dict) and isinstance(payload.get("model"), dict):
        payload = payload["model"]  # a cnnlab checkpoint
    if not isinstance(payload, dict) or not all(
        isinstance(v, torch.Tensor) for v in payload.values()
    ):
        raise TransferError(f"{path} holds no state dict of tensors")
    return dict(payload)


def _read(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged file
        raise TransferError(f"{path} is not a readable weights file ({exc})") from exc


def from_run(ref: str, which: str, runs_dir: Path | str | None) -> WeightSource:
    """A run's `last.pt` / `best.pt`, with the run's classes and model from its files."""
    from engine.errors import RunStoreError
    from engine.runs import RunStore

    store = RunStore(runs_dir)
    try:
        record = store.get(ref)
    except RunStoreError as exc:
        raise TransferError(f"init_from: {exc}") from None
    path = record.path / CHECKPOINTS[which]
    if not path.is_file():
        raise TransferError(f"run {record.run_id} has no {path.name} (it finished no epoch?)")
    payload = _read(path)
    epoch = payload.get("epoch") if isinstance(payload, dict) else None
    classes = record.summary.get("classes")
    return WeightSource(
        label=f"run {record.run_id} ({path.name}" + (f", epoch {epoch})" if epoch else ")"),
        state=_state_of(payload, path),
        classes=list(classes) if isinstance(classes, list) else None,
        model=record.config.get("model"),
        model_options=record.config.get("model_options"),
        run_id=record.run_id,
    )


def resolve_source(
    spec: str, runs_dir: Path | str | None = None, *, download: bool = False
) -> WeightSource:
    """The weights `init_from` names (see the module docstring); `TransferError` if none."""
    spec = spec.strip()
    if not spec:
        raise TransferError("init_from is empty")
    if spec.startswith(PREFIX):
        name = spec.removeprefix(PREFIX)
        state, path = load_hub_state(name, download=download)
        from torchvision.models import get_model_weights

        classes = list(get_model_weights(hub_model(name).name).DEFAULT.meta["categories"])
        spec_model = hub_model(name)
        return WeightSource(
            f"torchvision {name} ImageNet weights ({path})",
            state,
            classes,
            spec_model.model,
            dict(spec_model.options),
        )
    path = Path(spec).expanduser()
    if path.suffix in (".pt", ".pth") and path.is_file():
        return WeightSource(str(path), _state_of(_read(path), path), None)
    ref, which = split_checkpoint(spec)
    return from_run(ref, which, runs_dir)
