"""Timing helpers shared by the benchmark scripts.

The machine these run on is shared and noisy, so every comparison interleaves its
contenders (A B A B …): a burst of load from someone else hits both sides equally, and the
ratio of medians stays honest even when the absolute times wander.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch


def cpu_model() -> str:
    """The CPU's name from /proc/cpuinfo plus its widest SIMD (VMs often hide the model)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine() or "unknown CPU"
    name = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")), "")
    flags = next((ln.split(":", 1)[1].split() for ln in lines if ln.startswith("flags")), [])
    simd = next((f for f in ("avx512f", "avx2", "avx", "sse4_2") if f in flags), "")
    return f"{name or platform.machine()}{f', {simd}' if simd else ''}"


def machine_header(title: str) -> str:
    """One block naming what produced the numbers: CPU, threads, torch, Python."""
    import os

    cores = os.cpu_count() or 0
    return "\n".join(
        [
            title,
            f"CPU: {cpu_model()} ({cores} logical cores)",
            f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
            f"Python {platform.python_version()}",
        ]
    )


def set_threads(threads: int | None) -> int:
    """Use `threads` intra-op threads for every contender (default: torch's choice)."""
    if threads is not None:
        if threads < 1:
            raise SystemExit(f"--threads must be ≥ 1, got {threads}")
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def interleaved(
    contenders: Mapping[str, Callable[[], object]], *, repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call for each contender, called in turn A B A B … `repeats` times.

    `warmup` untimed rounds run first (allocator, thread pool and kernel caches settle).
    """
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain fixed-width table (right-aligned numbers), readable in any log or README."""
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    return "\n".join(lines)
