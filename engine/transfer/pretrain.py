"""`init_from="preset:NAME"`: start from a run of another preset, training it first if needed.

A recipe such as `vehicles-best` can name the pretraining it needs (`preset:cifar10-vehicles`)
instead of a run id that only exists on one machine. The pretraining run is looked up in the
same runs folder: the newest *completed* run whose settings equal what the preset gives for
this seed (speed and bookkeeping settings aside — device, mixed precision, channels-last,
compile, data root, name); when there is none, it is trained there first, as a run of its
own, and its time counts towards the recipe's. Each seed pretrains with its own seed, so the
spread over seeds includes the pretraining's.

The pretraining data set is found beside the recipe's: in the recipe's `data_root`, or in
its parent folder when `data_root` is the recipe's own data set folder
(`../shared/data/vehicles` → `../shared/data/cifar10`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.transfer.report import TransferError

PREFIX = "preset:"
# Settings that do not change what a pretraining run learns (or only its speed); a run
# with the same settings typed out by hand is the same pretraining.
IGNORED = ("name", "preset", "data_root", "device", "amp", "channels_last", "compile")


def preset_name(spec: str) -> str | None:
    """`preset:NAME` → NAME; None for any other `init_from`."""
    spec = spec.strip()
    return spec.removeprefix(PREFIX) if spec.startswith(PREFIX) else None


def _comparable(config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in config.items() if k not in IGNORED}


def pretraining_config(name: str, seed: int, data_root: str | None):
    """The preset's config for `seed`, with a data root where its data set is found."""
    from engine.datasets import probe_dataset
    from engine.errors import ConfigError
    from engine.presets import get_preset

    try:
        preset = get_preset(name)
    except ConfigError as exc:
        raise TransferError(f"init_from preset:{name}: {exc.errors['preset']}") from None
    config = preset.to_config(seed=seed)
    roots = [data_root, str(Path(data_root).expanduser().parent)] if data_root else [None]
    for root in roots:
        if probe_dataset(config.dataset, root).found:
            return config.replace(data_root=root)
    where = " or ".join(str(r) for r in roots if r) or "the default data root"
    raise TransferError(
        f"init_from preset:{name} trains on {config.dataset}, which is not in {where}; train "
        f"it yourself: cnnlab train --preset {name} --seed {seed} --data-root DIR (same runs "
        "folder)"
    )


def find_pretraining_run(runs_dir: Path | str | None, config) -> str | None:
    """The id of the newest completed run with `config`'s settings, or None."""
    from engine.runs import RunStore

    wanted = _comparable(config.to_dict())
    defaults = type(config)().to_dict()  # a setting added since a run was made: its default
    for record in RunStore(runs_dir).list_runs():  # newest first
        if record.status == "completed" and _comparable({**defaults, **record.config}) == wanted:
            return record.run_id
    return None


def ensure_pretraining(
    spec: str,
    *,
    seed: int,
    data_root: str | None,
    runs_dir: Path | str | None,
    train: Callable[[Any], tuple[str, str]],
    log: Callable[[str], None] = lambda message: None,
) -> str:
    """The run id `preset:NAME` stands for, training it with `train(config)` when missing.

    `train` runs a config to the end and returns (status, run id) — the caller's own
    trainer, so that this module does not import it.
    """
    name = preset_name(spec)
    if name is None:
        return spec
    config = pretraining_config(name, seed, data_root)
    found = find_pretraining_run(runs_dir, config)
    if found:
        log(f"pretraining: reusing run {found} (preset {name}, seed {seed})")
        return found
    log(f"pretraining: no completed run of preset {name} with seed {seed}; training it now")
    status, run_id = train(config)
    if status != "completed":
        raise TransferError(f"pretraining run {run_id} (preset {name}) ended {status}")
    return run_id
