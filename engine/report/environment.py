"""Where the experiments ran: device and torch version from the runs, machine facts here.

Runs record their device (with the GPU name for CUDA) and torch version; the CPU model,
Python and OS are read from the machine writing the report, which is usually the same
one — the table's note says so.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.report.i18n import Text

_GPU_IN_DEVICE = re.compile(r"\((.+)\)")


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), or what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _distinct(values: Sequence[Any]) -> list[str]:
    seen: list[str] = []
    for value in values:
        if value and str(value) not in seen:
            seen.append(str(value))
    return seen


def environment_rows(records: Sequence[Any], text: Text) -> list[tuple[str, str]]:
    """(item, value) rows for the environment table."""
    summaries = [record.summary or {} for record in records]
    devices = _distinct([s.get("device") for s in summaries])
    gpus = _distinct([m.group(1) for d in devices if (m := _GPU_IN_DEVICE.search(d))])
    missing = text("missing")
    rows = [
        (text("env_device"), ", ".join(devices) or missing),
        (text("env_gpu"), ", ".join(gpus) or "—"),
        (
            text("env_torch"),
            ", ".join(_distinct([s.get("torch_version") for s in summaries])) or missing,
        ),
        (text("env_cpu"), cpu_name()),
        (text("env_host"), ", ".join(_distinct([s.get("host") for s in summaries])) or missing),
        (text("env_python"), platform.python_version()),
        (text("env_os"), f"{platform.system()} {platform.release()}".strip()),
    ]
    return rows
