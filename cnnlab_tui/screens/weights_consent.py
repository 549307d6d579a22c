"""Missing torchvision weights, asked about before a launch: the dashboard's
`--download-weights`.

A run whose `init_from` is `torchvision:NAME` needs ImageNet weights from the torch hub cache;
the engine never downloads on its own (a run in the background must not reach the network
unasked). So New run asks first — what will be fetched, from where, into which folder — and
on yes downloads here, hash-checked by torch hub, with the megabytes so far beside Launch,
then queues the run; on no, or when the download fails, nothing is queued and the line
beside Launch says why and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

POLL_SECONDS = 0.5  # how often the download's progress is read


def missing_weights(config: Any) -> str | None:
    """The torchvision model name whose weights `config.init_from` needs and the hub cache
    lacks (None: nothing to fetch)."""
    from engine.transfer.hub import missing_weights as missing

    return missing(str(getattr(config, "init_from", "") or ""))


def consent_question(name: str) -> str:
    """What the dialog asks: which file, from where, into which folder."""
    from engine.transfer.hub import cache_file, weights_url

    target = cache_file(name)
    return (
        f"Init from torchvision:{name} needs its ImageNet weights, which are not in the "
        f"torch hub cache. Download {weights_url(name)} (hash-checked) into {target.parent} "
        "now? The run is queued once they are in."
    )


def download_with_progress(name: str, report: Callable[[str], None]) -> Path:
    """Download `name`'s weights on this (worker) thread's behalf, calling `report` with
    'Downloading NAME weights: N MB…' while it goes; TransferError when it fails."""
    from engine.transfer.hub import cache_file, download_weights

    outcome: dict[str, Any] = {}

    def fetch() -> None:
        try:
            outcome["path"] = download_weights(name, progress=False)
        except Exception as exc:  # TransferError, or anything torch hub raised
            outcome["error"] = exc

    fetcher = threading.Thread(target=fetch, name=f"download {name}", daemon=True)
    fetcher.start()
    target = cache_file(name)
    while fetcher.is_alive():
        report(f"Downloading {name} weights: {_partial_megabytes(target):.0f} MB…")
        fetcher.join(POLL_SECONDS)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["path"]


def _partial_megabytes(target: Path) -> float:
    """Bytes torch hub has written so far (it downloads to TARGET.<hex>.partial)."""
    total = 0
    for part in target.parent.glob(f"{target.name}.*.partial"):
        try:
            total += part.stat().st_size
        except OSError:  # renamed into place meanwhile
            continue
    return total / 2**20
