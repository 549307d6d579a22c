"""What the New run form holds, read once: a TrainConfig (or the fields that cannot be read)
and the sweep its lists describe. `NewRunScreen.to_config()` makes it; the checks, the
launch and the last-launch memory all take it, so the form's text is parsed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cnnlab_tui.sweep_launch import SweepForm


@dataclass(frozen=True)
class FormReading:
    """`config`: the form's TrainConfig (a sweep's first setting; a field that cannot be
    read keeps the value the form was filled with; None when no config can be built);
    `sweep`: lists typed in fields and the seeds; `errors`: form key → what the fields
    themselves found wrong (the form launches only without); `search`: the search the
    ranges, lists and Trials describe (`search_launch`), else None."""

    config: Any
    sweep: SweepForm = field(default_factory=SweepForm)
    errors: dict[str, str] = field(default_factory=dict)
    search: Any = None  # search_launch.SearchForm when Trials is filled

    @property
    def grid(self) -> dict[str, list[Any]]:
        """The sweep's parsed values by grid key (empty for a single run)."""
        return {axis.grid_key: list(axis.values) for axis in self.sweep.axes}

    def same_as(self, other: FormReading | None) -> bool:
        """Does `other` describe the same launch (config, lists and seeds)?"""
        return (
            other is not None
            and self.config == other.config
            and self.grid == other.grid
            and self.sweep.seeds == other.sweep.seeds
            and self.search == other.search
        )
