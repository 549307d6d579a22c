"""What a weight transfer did, in words a person can check, and the error when it cannot."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.errors import CnnlabError


class TransferError(CnnlabError):
    """Weights that cannot initialise this model (missing, other shapes, not downloaded)."""


@dataclass(frozen=True)
class TransferReport:
    """`loaded` keys came from the source; `reinitialised` keys kept this model's fresh
    initialisation (the classifier head when the classes differ); `ignored` source keys
    had no place in this model (the source's own head)."""

    source: str
    loaded: tuple[str, ...]
    reinitialised: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    reason: str = ""
    loaded_parameters: int = 0
    notes: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """The report as log lines: what was loaded, what was re-initialised and why."""
        lines = [
            f"init from {self.source}: loaded {len(self.loaded)} tensors "
            f"({self.loaded_parameters:,} values)"
        ]
        if self.reinitialised:
            why = f" ({self.reason})" if self.reason else ""
            lines.append(f"re-initialised {', '.join(self.reinitialised)}{why}")
        else:
            lines.append("every key loaded" + (f" ({self.reason})" if self.reason else ""))
        if self.ignored:
            lines.append(f"not used from the source: {', '.join(self.ignored)}")
        lines.extend(self.notes)
        return lines

    def to_dict(self) -> dict[str, object]:
        """JSON-ready summary for a run's files (counts and the head keys, not every key)."""
        return {
            "source": self.source,
            "loaded": len(self.loaded),
            "loaded_parameters": self.loaded_parameters,
            "reinitialised": list(self.reinitialised),
            "ignored": list(self.ignored),
            "reason": self.reason,
        }
