"""A run's name, note and tags, kept in `labels.json` beside the trainer's files.

The user's words about a run live in their own file so that labelling never touches what the
trainer writes (summary.json, config.json, metrics.jsonl): a running run, its resume and a
label edit cannot overwrite one another. A missing or malformed file reads as no labels.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runs.files import read_json, write_json_atomic

LABELS_FILE = "labels.json"
NAME_MAX = 40
NOTE_MAX = 500
TAG_MAX = 24
TAGS_MAX = 12

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_TAG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_HEX = re.compile(r"[0-9a-f]+")
_RUN_ID = re.compile(r"\d{8}-\d{6}-")
# Words a run reference already means (the newest run; folders of the runs root).
_RESERVED = frozenset({"latest", "last", "sweeps", "reports"})


@dataclass(frozen=True)
class RunLabels:
    """What the user said about a run: a short name (a handle), a free note, some tags."""

    name: str = ""
    note: str = ""
    tags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.name or self.note or self.tags)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "note": self.note, "tags": list(self.tags)}


def check_name(name: str) -> str:
    """The name stripped, or `ValueError` saying why it cannot name a run ("" = no name)."""
    name = str(name).strip()
    if not name:
        return ""
    if len(name) > NAME_MAX:
        raise ValueError(f"a run name has at most {NAME_MAX} characters ({len(name)} given)")
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"run name {name!r}: use letters, digits and - _ . only, starting with a letter "
            "or digit (no spaces, no slashes: a name is not a path)"
        )
    if name.lower() in _RESERVED:
        raise ValueError(f"run name {name!r} is reserved (it already means something)")
    if _HEX.fullmatch(name.lower()):
        raise ValueError(f"run name {name!r} reads as a short run id; add a letter g-z or a -")
    if _RUN_ID.match(name):
        raise ValueError(f"run name {name!r} reads as a run id; choose a shorter word")
    return name


def parse_tags(values: Iterable[str] | str) -> tuple[str, ...]:
    """Tags from `values` (each may be comma-separated), deduplicated in order.

    `ValueError` for a tag that is not one word of letters, digits and - _ .
    """
    if isinstance(values, str):
        values = [values]
    tags: list[str] = []
    for value in values:
        for part in str(value).split(","):
            tag = part.strip()
            if not tag:
                continue
            if len(tag) > TAG_MAX or not _TAG.fullmatch(tag):
                raise ValueError(
                    f"tag {tag!r}: one word of at most {TAG_MAX} letters, digits or - _ . "
                    "(separate tags with commas)"
                )
            if tag not in tags:
                tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} tags per run ({len(tags)} given)")
    return tuple(tags)


def check_note(note: str) -> str:
    """The note stripped, or `ValueError` when it is too long to show."""
    note = str(note).strip()
    if len(note) > NOTE_MAX:
        raise ValueError(f"a note has at most {NOTE_MAX} characters ({len(note)} given)")
    return note


def make_labels(name: str = "", note: str = "", tags: Iterable[str] | str = ()) -> RunLabels:
    """Checked labels; `ValueError` with a message for the user when one part is bad."""
    return RunLabels(name=check_name(name), note=check_note(note), tags=parse_tags(tags))


def check_unique(name: str, run_id: str, others: Iterable[tuple[str, RunLabels]]) -> None:
    """`ValueError` naming the run that already has `name` (names are handles, so unique).

    `others` are (run id, labels) pairs of the runs root; `run_id`'s own pair is skipped.
    The comparison ignores case, so `Best` and `best` never both exist.
    """
    if not name:
        return
    for other_id, labels in others:
        if other_id == run_id:
            continue
        if labels.name.lower() == name.lower():
            raise ValueError(f"the name {name!r} is already used by run {other_id}")
        if other_id.lower() == name.lower():
            raise ValueError(f"the name {name!r} is the id of run {other_id}")


def labels_from_json(data: Any) -> RunLabels:
    """Labels from parsed JSON; `ValueError` when it is not what `write_labels` writes."""
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    name, note, tags = data.get("name", ""), data.get("note", ""), data.get("tags", [])
    if not isinstance(name, str) or not isinstance(note, str):
        raise ValueError("name and note must be strings")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("tags must be a list of strings")
    return make_labels(name, note, tags)


def read_labels_checked(run_dir: Path | str) -> tuple[RunLabels, str | None]:
    """The run's labels and, when labels.json is unreadable, why (the labels are then empty).

    A bad labels.json never damages the run: the run is still listed, shown and resumable.
    """
    path = Path(run_dir) / LABELS_FILE
    try:
        data = read_json(path)
    except FileNotFoundError:
        return RunLabels(), None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError too
        return RunLabels(), f"{LABELS_FILE} is unreadable ({exc}); labels ignored"
    try:
        return labels_from_json(data), None
    except ValueError as exc:
        return RunLabels(), f"{LABELS_FILE} is malformed ({exc}); labels ignored"


def read_labels(run_dir: Path | str) -> RunLabels:
    """The run's labels; empty when labels.json is missing or malformed."""
    return read_labels_checked(run_dir)[0]


def write_labels(run_dir: Path | str, labels: RunLabels) -> None:
    """Replace the run's labels.json atomically (readers see the old labels or the new)."""
    checked = make_labels(labels.name, labels.note, labels.tags)
    write_json_atomic(Path(run_dir) / LABELS_FILE, checked.to_json())
