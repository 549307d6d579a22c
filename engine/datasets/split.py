"""Deterministic train / val / test splits by position in a sorted list.

The lab takes "the last 20–30 % of each class" as the test set, so splits here are by
position, never random: the same folder always splits the same way. Validation comes from
the tail of the training part, so it sits just before the test images and mimics their
shift (useful when file order follows capture order).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from engine.errors import DatasetError

# Guards ceil() against float error: 0.2 * 520 must give 104, not 105.
_EPS = 1e-9
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders "img2" before "img10" (as file browsers do), case-insensitively."""
    parts = _DIGITS.split(name.lower())
    return tuple(int(p) if p.isdigit() else p for p in parts) + (name,)


def check_fraction(name: str, value: float | None, *, allow_zero: bool) -> None:
    """Raise DatasetError unless `value` is None or a fraction in [0, 1) / (0, 1)."""
    if value is None:
        return
    is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
    low_ok = is_number and (value >= 0 if allow_zero else value > 0)
    if not (low_ok and value < 1):
        bound = "0 ≤ x < 1" if allow_zero else "0 < x < 1"
        raise DatasetError(f"{name} must be a fraction with {bound}, not {value!r}")


def split_counts(
    n: int, test_fraction: float, val_fraction: float = 0.0, *, what: str = "the data set"
) -> tuple[int, int, int]:
    """(train, val, test) sizes for `n` items: the test part is ceil(test_fraction·n).

    Ceil (not round) gives the lab's counts: 218/779/360 vehicles at 0.25 → 55+195+90 = 340
    test images. Raises DatasetError when a part would be empty.
    """
    check_fraction("test_fraction", test_fraction, allow_zero=False)
    check_fraction("val_fraction", val_fraction, allow_zero=True)
    n_test = math.ceil(n * test_fraction - _EPS)
    n_val = math.ceil((n - n_test) * val_fraction - _EPS) if val_fraction > 0 else 0
    n_train = n - n_test - n_val
    if n_train < 1 or n_test < 1 or (val_fraction > 0 and n_val < 1):
        parts = f"train {max(n_train, 0)}, test {n_test}"
        if val_fraction > 0:
            parts += f", val {n_val}"
        raise DatasetError(
            f"too few images in {what} for the split: {n} image(s) give {parts} "
            f"(test_fraction {test_fraction}, val_fraction {val_fraction}); "
            "every split needs at least one image"
        )
    return n_train, n_val, n_test


def split_positions(
    n: int, test_fraction: float, val_fraction: float = 0.0, *, what: str = "the data set"
) -> tuple[range, range, range]:
    """Index ranges (train, val, test) over a sorted list of `n` items."""
    n_train, n_val, _ = split_counts(n, test_fraction, val_fraction, what=what)
    return range(0, n_train), range(n_train, n_train + n_val), range(n_train + n_val, n)


def split_by_group(
    groups: Sequence[int],
    test_fraction: float,
    val_fraction: float = 0.0,
    *,
    names: Sequence[str] | None = None,
) -> tuple[list[int], list[int], list[int]]:
    """Split item indices per group (class), each group by its own order of appearance.

    `groups[i]` is the group of item i; items of one group must already be in sorted order.
    `names[g]` (optional) names group g in error messages.
    """
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(int(group), []).append(index)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for group in sorted(members):
        items = members[group]
        label = f"class '{names[group]}'" if names is not None else f"group {group}"
        tr, va, te = split_positions(len(items), test_fraction, val_fraction, what=label)
        train += [items[i] for i in tr]
        val += [items[i] for i in va]
        test += [items[i] for i in te]
    return train, val, test


def carve_validation(
    groups: Sequence[int], val_fraction: float, *, names: Sequence[str] | None = None
) -> tuple[list[int], list[int]]:
    """(train, val) indices when the test set is fixed elsewhere (e.g. CIFAR-10's own).

    Per group, the last ceil(val_fraction·n) items in order of appearance become validation;
    both lists keep the items' original order.
    """
    check_fraction("val_fraction", val_fraction, allow_zero=True)
    members: dict[int, list[int]] = {}
    for index, group in enumerate(groups):
        members.setdefault(int(group), []).append(index)
    train: list[int] = []
    val: list[int] = []
    for group in sorted(members):
        items = members[group]
        n_val = math.ceil(len(items) * val_fraction - _EPS) if val_fraction > 0 else 0
        if len(items) - n_val < 1:
            label = f"class '{names[group]}'" if names is not None else f"group {group}"
            raise DatasetError(
                f"too few images in {label} for val_fraction {val_fraction}: "
                f"{len(items)} image(s) leave no training image"
            )
        train += items[: len(items) - n_val]
        val += items[len(items) - n_val :]
    return sorted(train), sorted(val)  # keep the original order (synthetic sets are shuffled)
