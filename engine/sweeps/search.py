"""What a search is: the base config, the space to search (ranges and lists of values per
setting), how many trials, the objective — and its id. (`search_runner` runs one.)

    cnnlab sweep --search tpe --trials 6 --objective val_acc \
                 --grid lr=1e-4..1e-1:log --grid batch-size=32,64,128

The space is typed as a grid is, through the config's one parser
(`engine.trainer.config.parse_field_space`): `a..b` and `a..b:log` are ranges of a number
setting, `x,y,z` a list. Each trial is an ordinary run of `base` with the trial's values and
the base's seed, tagged as a member of the search (so grouping, Compare and reports treat a
search like a sweep whose points are its trials).

On disk, beside the sweeps' state files: `<runs>/sweeps/<search id>/` holds `search.json`
(this spec) and `study.db`, Optuna's SQLite storage — the truth about the trials, which is
what lets a search resume after a crash. The run store never lists `sweeps/`.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError, RunStoreError
from engine.runs.files import read_json, write_json_atomic
from engine.sweeps.grid import MODEL_PREFIX, SweepPoint, check_grid_key, setting_label
from engine.sweeps.spec import point_config, point_problems, reference_config
from engine.sweeps.state import sweeps_dir
from engine.trainer.config import FieldRange, TrainConfig, format_value

# objective → (direction, task it applies to: None = both)
OBJECTIVES: dict[str, tuple[str, str | None]] = {
    "val_acc": ("maximize", "classify"),
    "val_balanced_acc": ("maximize", "classify"),
    "val_loss": ("minimize", None),
    "val_psnr": ("maximize", "dehaze"),
    "val_ssim": ("maximize", "dehaze"),
    "test_acc": ("maximize", "classify"),
    "test_balanced_acc": ("maximize", "classify"),
    "test_loss": ("minimize", None),
    "test_psnr": ("maximize", "dehaze"),
    "test_ssim": ("maximize", "dehaze"),
}
SAMPLERS = ("tpe", "random")
MAX_TRIALS = 10_000
# Settings added after search ids were first handed out: out of the id while at their default,
# so a search typed before they existed keeps its id (and resumes).
ADDED_SINCE_SEARCHES = ("nproc_per_node",)
SEARCH_FILE = "search.json"
STUDY_FILE = "study.db"

Space = dict[str, "FieldRange | list[Any]"]


def _space_to_dict(space: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: {"range": value.to_dict()} if isinstance(value, FieldRange) else {"values": value}
        for key, value in space.items()
    }


def _space_from_dict(data: Mapping[str, Any]) -> Space:
    space: Space = {}
    for key, value in data.items():
        if "range" in value:
            space[key] = FieldRange.from_dict(value["range"])
        else:
            space[key] = list(value["values"])
    return space


def space_text(space: Mapping[str, Any]) -> str:
    """`lr=1e-04..0.1:log batch_size=32,64,128` (as typed)."""

    def shown(value: Any) -> str:
        if isinstance(value, FieldRange):
            return value.text()
        return ",".join(format_value(item) for item in value)

    return " ".join(f"{key}={shown(value)}" for key, value in space.items())


@dataclass(frozen=True)
class SearchSpec:
    """A search: `trials` runs of `base` with values drawn from `space` by `sampler`,
    judged by `objective` (its direction from OBJECTIVES), pruned by the median rule at
    epoch boundaries when `prune`."""

    base: TrainConfig = field(default_factory=TrainConfig)
    space: Space = field(default_factory=dict)
    trials: int = 10
    objective: str = "val_acc"
    sampler: str = "tpe"
    prune: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "space", dict(self.space))
        object.__setattr__(self, "base", _canonical_base(self.base, self.space))

    @property
    def direction(self) -> str:
        return OBJECTIVES.get(self.objective, ("maximize", None))[0]

    @property
    def preset(self) -> str | None:
        return self.base.preset

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "search",
            "preset": self.preset,
            "base": self.base.to_dict(),
            "space": _space_to_dict(self.space),
            "trials": self.trials,
            "objective": self.objective,
            "sampler": self.sampler,
            "prune": self.prune,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SearchSpec:
        return cls(
            base=TrainConfig.from_dict(dict(data["base"])),
            space=_space_from_dict(data.get("space") or {}),
            trials=int(data.get("trials", 10)),
            objective=str(data.get("objective", "val_acc")),
            sampler=str(data.get("sampler", "tpe")),
            prune=bool(data.get("prune", True)),
        )

    @property
    def search_id(self) -> str:
        """`search-<preset or model>-<10 hex>`: a hash of everything above, so typing the
        same command again finds the same search and resumes it."""
        data = self.to_dict()
        data.pop("preset")
        defaults = TrainConfig().to_dict()
        data["base"] = {
            key: value
            for key, value in data["base"].items()
            if not (key in ADDED_SINCE_SEARCHES and value == defaults[key])
        }
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode())
        label = self.preset or str(self.base.model or "run")
        return f"search-{re.sub(r'[^A-Za-z0-9_-]+', '-', label)}-{digest.hexdigest()[:10]}"

    sweep_id = search_id  # what a search is called where sweeps are listed and grouped

    def trial_config(self, number: int, params: Mapping[str, Any]) -> TrainConfig:
        """The TrainConfig of trial `number` with values `params` (the base's seed)."""
        return point_config(self.base, self.trial_point(number, params))

    def trial_point(self, number: int, params: Mapping[str, Any]) -> SweepPoint:
        return SweepPoint(index=number, setting=dict(params), seed=self.base.seed)


def _canonical_base(base: TrainConfig, space: Mapping[str, Any]) -> TrainConfig:
    """`base` with every searched field at its preset's (or default) value: each trial sets
    them anyway, so the id does not depend on where the command was typed. The seed stays:
    every trial trains with it."""
    reference = reference_config(base.preset)
    known = reference.to_dict()
    fields = {k: known[k] for k in space if k in known}
    canonical = base.replace(**fields)
    options = dict(canonical.model_options)
    for key in space:
        if key.startswith(MODEL_PREFIX):
            option = key[len(MODEL_PREFIX) :]
            options.pop(option, None)
            if reference.model == canonical.model and option in reference.model_options:
                options[option] = reference.model_options[option]
    return canonical.replace(model_options=options)


def build_search(
    base: TrainConfig,
    space: Mapping[str, Any],
    *,
    trials: int,
    objective: str,
    sampler: str = "tpe",
    prune: bool = True,
) -> SearchSpec:
    """A checked search (ConfigError naming what is wrong): its keys settings one may
    sweep, at least one of them, a known sampler and objective that fits the data set's
    task (a `val_*` objective needs a validation split), and every value it may try valid."""
    errors: dict[str, str] = {}
    if not space:
        errors["grid"] = "a search needs at least one --grid KEY=RANGE or KEY=V1,V2"
    for key, values in space.items():
        check_grid_key(key)
        if isinstance(values, list) and not values:
            errors[f"grid {key}"] = "no values"
    if sampler not in SAMPLERS:
        errors["search"] = f"one of {', '.join(SAMPLERS)}, got {sampler!r}"
    if not 1 <= int(trials) <= MAX_TRIALS:
        errors["trials"] = f"between 1 and {MAX_TRIALS}, got {trials}"
    errors.update(_objective_problems(base, space, objective))
    if errors:
        raise ConfigError(errors)
    spec = SearchSpec(base, dict(space), int(trials), objective, sampler, prune)
    check_values(spec)
    return spec


def _objective_problems(base: TrainConfig, space: Mapping[str, Any], objective: str) -> dict:
    if objective not in OBJECTIVES:
        return {"objective": f"one of {', '.join(OBJECTIVES)}, got {objective!r}"}
    from engine.datasets import DATASETS

    info = DATASETS.get(base.dataset)
    task = OBJECTIVES[objective][1]
    if info is not None and task is not None and info.task != task:
        return {"objective": f"{objective} is for {task} runs; {base.dataset} is {info.task}"}
    if objective.startswith("val_") and base.val_fraction <= 0 and "val_fraction" not in space:
        return {
            "objective": f"{objective} needs a validation split: set --val-fraction "
            "(e.g. 0.2), or use a test_* objective"
        }
    return {}


def corners(spec: SearchSpec) -> list[SweepPoint]:
    """Points that together try every listed value and both ends of every range (each key
    varied alone), to validate a space before any trial runs."""
    middle = {
        key: (value.low if isinstance(value, FieldRange) else value[0])
        for key, value in spec.space.items()
    }
    points = [SweepPoint(0, dict(middle), spec.base.seed)]
    for key, value in spec.space.items():
        tried = [value.low, value.high] if isinstance(value, FieldRange) else list(value)
        for item in tried:
            points.append(SweepPoint(len(points), {**middle, key: item}, spec.base.seed))
    return points


def check_values(spec: SearchSpec) -> None:
    """ConfigError when any value the space may give makes an invalid run."""
    errors: dict[str, str] = {}
    for point in corners(spec):
        for name, message in point_problems(point_config(spec.base, point)).items():
            errors.setdefault(f"{name} ({setting_label(point.setting)})", message)
    if errors:
        raise ConfigError(errors)


# ------------------------------------------------------------------ on disk


def search_dir(runs_dir: Path, search_id: str) -> Path:
    return sweeps_dir(Path(runs_dir)) / search_id


def study_url(runs_dir: Path, search_id: str) -> str:
    return f"sqlite:///{(search_dir(runs_dir, search_id) / STUDY_FILE).resolve()}"


def save_search(runs_dir: Path, spec: SearchSpec) -> Path:
    """Write `<runs>/sweeps/<id>/search.json` (kept as first written when it exists)."""
    folder = search_dir(runs_dir, spec.search_id)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SEARCH_FILE
    if not path.exists():
        write_json_atomic(
            path,
            {"version": 1, "search_id": spec.search_id, "spec": spec.to_dict(),
             "created": time.time()},
        )  # fmt: skip
    return path


@dataclass(frozen=True)
class SavedSearch:
    search_id: str
    spec: SearchSpec
    created: float


def list_searches(runs_dir: Path) -> list[SavedSearch]:
    """Every readable search under `runs_dir`, newest first."""
    found = []
    folder = sweeps_dir(Path(runs_dir))
    for path in sorted(folder.glob(f"*/{SEARCH_FILE}")) if folder.is_dir() else []:
        try:
            data = read_json(path)
            found.append(
                SavedSearch(
                    str(data["search_id"]), SearchSpec.from_dict(data["spec"]),
                    float(data.get("created") or 0.0),
                )
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(found, key=lambda s: s.created, reverse=True)


def load_search(runs_dir: Path, search_id: str) -> SearchSpec:
    path = search_dir(runs_dir, search_id) / SEARCH_FILE
    try:
        return SearchSpec.from_dict(read_json(path)["spec"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RunStoreError(f"no readable search {search_id!r} ({exc})") from None
