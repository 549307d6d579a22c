"""Type checks for what readers take from run files, so no reader ever sees a bad field.

Every file in a runs folder may have been edited, damaged or written by another version:
a valid-JSON `summary.json` with `"best": "x"` is still a broken run. Each reader (the CLI's
`runs`/`show`/`compare`/`report`, the dashboard's screens, sweep aggregation) gets its
records from `RunStore`, and the store passes every file through these checks: a field of
the wrong type is dropped, and the first one found is named as the run's `damaged` reason.
So readers can rely on the types below and need no try/except of their own.

Checked: `summary.json` (`check_summary`), `config.json` (`check_config`, types from
`TrainConfig`'s fields), each `metrics.jsonl` row (`check_metric_row`), a sweep point
(`check_sweep_point`) and a sweep state file (`check_sweep_state`). Fields a check does
not know must still be plain JSON: UTF-8 text (no lone surrogates), finite numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

# Largest integer a reader may pass to the OS or to float() (pids, counts, epochs).
_INT_LIMIT = 2**53


@dataclass(frozen=True)
class Kind:
    """A check and the words that say what it expects ("a number")."""

    test: Callable[[Any], bool]
    expected: str

    def __call__(self, value: Any) -> bool:
        return self.test(value)

    def or_null(self) -> Kind:
        return Kind(lambda v: v is None or self.test(v), f"{self.expected} or null")


def _is_text(value: Any) -> bool:
    if not isinstance(value, str) or "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from "\ud800" in the JSON
        return False
    return True


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _INT_LIMIT


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False


def is_plain(value: Any) -> bool:
    """JSON every reader can print: text, finite numbers, booleans, null, lists, objects."""
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return _is_number(value)
    if isinstance(value, str):
        return _is_text(value)
    if isinstance(value, list):
        return all(is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(_is_text(k) and is_plain(v) for k, v in value.items())
    return False


TEXT = Kind(_is_text, "text")
INT = Kind(_is_int, "a whole number")
NUMBER = Kind(_is_number, "a finite number")
BOOL = Kind(lambda v: isinstance(v, bool), "true or false")
PLAIN = Kind(is_plain, "plain JSON")
OBJECT = Kind(lambda v: isinstance(v, dict) and is_plain(v), "an object")


def list_of(kind: Kind) -> Kind:
    return Kind(
        lambda v: isinstance(v, list) and all(kind(x) for x in v), f"a list of {kind.expected}"
    )


def _metrics_object(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    return all(
        _is_text(k) and (INT.or_null() if k == "epoch" else NUMBER.or_null())(v)
        for k, v in value.items()
    )


METRICS = Kind(_metrics_object, "an object of metric numbers")
MATRIX = Kind(
    lambda v: isinstance(v, list) and all(list_of(NUMBER)(row) for row in v),
    "a list of rows of numbers",
)


def _relative_path(value: Any) -> bool:
    return _is_text(value) and not value.startswith("/") and ".." not in value.split("/")


SAMPLE_PATHS = list_of(Kind(_relative_path, "a path inside the run folder"))

_POINT_FIELDS: dict[str, Kind] = {"index": INT, "setting": OBJECT, "seed": INT}
POINT = Kind(
    lambda v: isinstance(v, dict) and all(_POINT_FIELDS.get(k, PLAIN)(x) for k, x in v.items()),
    "a sweep point {index, setting, seed}",
)

SUMMARY_FIELDS: dict[str, Kind] = {
    "run_id": TEXT,
    "name": TEXT.or_null(),
    "status": TEXT,
    "task": TEXT.or_null(),
    "dataset": TEXT.or_null(),
    "model": TEXT.or_null(),
    "preset": TEXT.or_null(),
    "config": OBJECT,
    "epochs": INT.or_null(),
    "epochs_completed": INT,
    "final": METRICS,
    "best": METRICS,
    "train_seconds": NUMBER.or_null(),
    "images_per_second": NUMBER.or_null(),
    "params": INT.or_null(),
    "device": TEXT.or_null(),
    "torch_version": TEXT.or_null(),
    "error": TEXT.or_null(),
    "pid": INT.or_null(),
    "host": TEXT.or_null(),
    "started_at": TEXT.or_null(),
    "updated_at": TEXT.or_null(),
    "finished_at": TEXT.or_null(),
    "num_train": INT.or_null(),
    "num_test": INT.or_null(),
    "classes": list_of(TEXT),
    "per_class_acc": list_of(NUMBER.or_null()),
    "confusion": MATRIX,
    "samples": SAMPLE_PATHS,
    "sweep_id": TEXT,
    "sweep_point": POINT,
}

METRIC_ROW_FIELDS: dict[str, Kind] = {
    "epoch": INT,
    "per_class_acc": list_of(NUMBER.or_null()),
    "confusion": MATRIX,
}
_METRIC_VALUE = NUMBER.or_null()


def _short(value: Any, limit: int = 40) -> str:
    text = ascii(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_fields(
    data: dict[str, Any], kinds: Mapping[str, Kind], what: str, default: Kind = PLAIN
) -> tuple[dict[str, Any], str | None]:
    """(a copy of `data` without the fields that fail their check, the first failure)."""
    clean: dict[str, Any] = {}
    problem: str | None = None
    for key, value in data.items():
        kind = kinds.get(key, default)
        if _is_text(key) and kind(value):
            clean[key] = value
        elif problem is None:
            problem = f"{what}: {_short(key)} should be {kind.expected}, not {_short(value)}"
    return clean, problem


def _square(matrix: list[list[Any]], size: int) -> bool:
    return len(matrix) == size and all(len(row) == size for row in matrix)


def _per_class_problem(data: dict[str, Any], what: str) -> str | None:
    """Per-class lists must match each other (a reader zips them with the class names)."""
    confusion, accuracies = data.get("confusion"), data.get("per_class_acc")
    size = len(data["classes"]) if "classes" in data else None
    if confusion is not None:
        size = len(confusion) if size is None else size
        if not _square(confusion, size):
            data.pop("confusion")
            return f"{what}: 'confusion' is not a {size}×{size} matrix of the classes"
    if accuracies is not None and size is not None and len(accuracies) != size:
        data.pop("per_class_acc")
        return f"{what}: 'per_class_acc' has {len(accuracies)} values for {size} classes"
    return None


def check_summary(data: dict[str, Any], what: str = "summary.json") -> tuple[dict, str | None]:
    """The summary with bad fields dropped, and the first problem (None when all is well)."""
    clean, problem = check_fields(data, SUMMARY_FIELDS, what)
    return clean, problem or _per_class_problem(clean, what)


@lru_cache(maxsize=1)
def config_kinds() -> dict[str, Kind]:
    """Each `TrainConfig` field's type as a check (unknown fields: plain JSON)."""
    from engine.trainer.config import config_fields

    by_type = {int: INT, float: NUMBER, str: TEXT, bool: BOOL, dict: OBJECT}
    kinds = {}
    for spec in config_fields(registries=False):
        kind = by_type.get(spec.type, PLAIN)
        kinds[spec.name] = kind.or_null() if spec.optional else kind
    return kinds


def check_config(data: dict[str, Any], what: str = "config.json") -> tuple[dict, str | None]:
    """The config with fields of the wrong type dropped, and the first problem."""
    return check_fields(data, config_kinds(), what)


def check_metric_row(row: dict[str, Any], what: str = "metrics.jsonl") -> str | None:
    """None when every field of an epoch row has its type, else the first problem."""
    clean, problem = check_fields(row, METRIC_ROW_FIELDS, what, default=_METRIC_VALUE)
    if problem is None and "epoch" not in row:
        problem = f"{what}: the row has no 'epoch'"
    if problem is None and "confusion" in clean:
        size = len(clean["confusion"])
        if not _square(clean["confusion"], size):
            problem = f"{what}: 'confusion' is not a square matrix"
    return problem


def check_sweep_point(data: Any, what: str = "sweep.json") -> str | None:
    """None for a well-formed `{index, setting, seed}`, else what is wrong."""
    if POINT(data) and "index" in data:
        return None
    return f"{what}: 'sweep_point' should be {POINT.expected}, not {_short(data)}"


_STATE_POINT_FIELDS: dict[str, Kind] = {
    **_POINT_FIELDS,
    "run_id": TEXT.or_null(),
    "attempts": list_of(TEXT),
}
_SPEC_FIELDS: dict[str, Kind] = {
    "preset": TEXT.or_null(),
    "base": OBJECT,
    "overrides": OBJECT,
    "grid": Kind(
        lambda v: isinstance(v, dict) and all(list_of(PLAIN)(x) for x in v.values()),
        "an object of value lists",
    ),
    "seeds": list_of(INT),
}


def check_sweep_state(data: Any, what: str = "sweep state") -> str | None:
    """None when a sweep state file has every field it needs with its type."""
    if not isinstance(data, dict):
        return f"{what} is not a JSON object"
    _, problem = check_fields(
        data,
        {"sweep_id": TEXT, "spec": Kind(lambda v: isinstance(v, dict), "an object"),
         "points": Kind(lambda v: isinstance(v, list), "a list"),
         "created": NUMBER.or_null(), "updated": NUMBER.or_null(), "version": INT},
        what,
    )  # fmt: skip
    if problem or "sweep_id" not in data:
        return problem or f"{what} has no 'sweep_id'"
    _, problem = check_fields(data.get("spec") or {}, _SPEC_FIELDS, f"{what} spec")
    for number, point in enumerate(data.get("points") or []):
        if problem:
            break
        if not isinstance(point, dict) or "index" not in point:
            problem = f"{what}: point {number} should be an object with an 'index'"
        else:
            _, problem = check_fields(point, _STATE_POINT_FIELDS, f"{what} point {number}")
    return problem
