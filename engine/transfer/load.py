"""Loading a source state dict into a model: every key must match, except the classifier
head when the classes differ (it is then re-initialised), and shapes must agree.

The rules are strict on purpose: a silently skipped layer would make a "pretrained" run
train half from scratch, which is the kind of difference a person only finds by accident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from engine.transfer.report import TransferError, TransferReport

# Counters, not weights: old checkpoints (e.g. torchvision's) lack them, and they carry no
# learned information, so they are neither required nor reported.
_COUNTER_SUFFIX = "num_batches_tracked"
_SHOWN = 6  # mismatching keys named in an error before "…"


def head_keys(model: nn.Module) -> tuple[str, ...]:
    """State-dict keys of the classifier head: the model's last `nn.Linear` layer."""
    last = None
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            last = name
    if last is None:
        return ()
    prefix = f"{last}." if last else ""
    return tuple(
        k for k in model.state_dict() if k.startswith(prefix) and "." not in k[len(prefix) :]
    )


def _is_counter(key: str) -> bool:
    return key.endswith(_COUNTER_SUFFIX)


def _shape(t: torch.Tensor) -> str:
    return "×".join(str(d) for d in t.shape) or "scalar"


def _listing(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" … ({len(items)} in all)" if len(items) > _SHOWN else "")


def _classes_text(source: Sequence[str] | None, target: Sequence[str] | None) -> str:
    def short(classes: Sequence[str]) -> str:
        names = ", ".join(classes[:4]) + (", …" if len(classes) > 4 else "")
        return f"{len(classes)} ({names})"

    if source is None:
        return "the source's classes are unknown and its head has another shape"
    return f"classes differ: source {short(source)}, this run {short(target or [])}"


def load_weights(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    source_classes: Sequence[str] | None,
    target_classes: Sequence[str] | None,
) -> TransferReport:
    """Copy `state` into `model` in place and say what happened.

    Same classes (same names, same order): every key is loaded. Other classes: the head
    (`head_keys`) keeps its fresh initialisation and the source's head is not used. Source
    classes unknown (a bare state dict): the head is loaded when its shapes match. Any other
    missing key, unexpected key or shape mismatch raises `TransferError` naming them, and
    the model is left untouched.
    """
    target = model.state_dict()
    head = set(head_keys(model))
    known = source_classes is not None and target_classes is not None
    same = known and list(source_classes) == list(target_classes)
    head_fits = all(k in state and state[k].shape == target[k].shape for k in head)
    reinit_head = bool(head) and not same and (known or not head_fits)
    keep = head if reinit_head else set()
    source_head = set(head) if reinit_head else set()

    missing = [k for k in target if k not in keep and k not in state and not _is_counter(k)]
    unexpected = [
        k for k in state if k not in target and k not in source_head and not _is_counter(k)
    ]
    wrong = [
        f"{k} (source {_shape(state[k])}, this model {_shape(target[k])})"
        for k in target
        if k not in keep and k in state and state[k].shape != target[k].shape
    ]
    problems = []
    if wrong:
        problems.append(f"shapes differ for {_listing(wrong)}")
    if missing:
        problems.append(f"missing from the source: {_listing(missing)}")
    if unexpected:
        problems.append(f"not in this model: {_listing(unexpected)}")
    if problems:
        raise TransferError(
            f"cannot initialise {getattr(model, 'model_name', 'this model')} from {source}: "
            + "; ".join(problems)
            + " — the source must be the same architecture with the same options"
        )
    loaded = [k for k in target if k not in keep and k in state and not _is_counter(k)]
    with torch.no_grad():
        for key in loaded:
            target[key].copy_(state[key].to(target[key].dtype))
        for key in target:
            if _is_counter(key) and key in state and key not in keep:
                target[key].copy_(state[key])
    ignored = sorted(k for k in source_head if k in state)
    reason = _classes_text(source_classes, target_classes) if reinit_head else ""
    if not reinit_head:
        reason = "same classes" if same else "source classes unknown; head shapes match"
    return TransferReport(
        source=source,
        loaded=tuple(loaded),
        reinitialised=tuple(k for k in target if k in keep),
        ignored=tuple(ignored),
        reason=reason,
        loaded_parameters=sum(target[k].numel() for k in loaded),
    )
