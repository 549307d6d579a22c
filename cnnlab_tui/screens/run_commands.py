"""Command palette entries for the runs in the store: "Open run …", "Re-run …" and, for an
interrupted or cancelled run, "Resume run …" (asks how many epochs to add); per sweep,
"Show sweep …" (its group opened on Runs) and "Compare sweep …".

Typing part of a run id, its name or tags (or its data set / model) after ctrl+p jumps
straight to it, from the Runs, Run detail and Compare screens — faster than scrolling a
long table over SSH.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.message import Message

from cnnlab_tui.screens.resume_dialog import ask_resume

log = logging.getLogger(__name__)

MAX_DISCOVERY_HITS = 5
RESUMABLE = ("interrupted", "cancelled")  # offered in the palette (`r` tries any run)


class RevealSweep(Message):
    """Ask the Runs screen to open sweep `sweep_id`'s group and put the cursor on it."""

    def __init__(self, sweep_id: str) -> None:
        super().__init__()
        self.sweep_id = sweep_id


def reveal_sweep(app: Any, sweep_id: str) -> None:
    """Show sweep `sweep_id` as an open group on the Runs screen (F3)."""
    app.switch_mode("runs")
    app.get_screen_stack("runs")[0].post_message(RevealSweep(sweep_id))


class RunCommands(Provider):
    """One "Open run" and one "Re-run" command per run, newest runs first."""

    async def startup(self) -> None:
        try:
            self._records, self._sweeps = await asyncio.to_thread(self._list_runs)
        except Exception as exc:  # the palette must open even when the store cannot
            log.warning("run commands unavailable: %s", exc)
            self._records, self._sweeps = [], {}

    def _list_runs(self) -> tuple[list[Any], dict[str, int]]:
        """The store's runs and sweep id → run count (a thread: the engine may be loading)."""
        self.app.engine.wait()
        from engine.sweeps import read_membership

        records = self.app.store.list_runs()
        sweeps: dict[str, int] = {}
        for record in records:
            membership = read_membership(record)
            if membership:
                sweeps[membership[0]] = sweeps.get(membership[0], 0) + 1
        return records, sweeps

    def _commands(self) -> list[tuple[str, Any, str]]:
        """(text, callback, help) for every run."""
        commands = []
        for sweep_id, count in self._sweeps.items():
            about = f"sweep of {count} run{'s' if count != 1 else ''}"
            show = partial(reveal_sweep, self.app, sweep_id)
            commands.append((f"Show sweep {sweep_id}", show, f"{about} · on Runs"))
            compare = partial(self.app.open_compare, [sweep_id])
            commands.append((f"Compare sweep {sweep_id}", compare, f"{about} · mean ± std"))
        for record in self._records:
            summary = record.summary or {}
            where = f"{summary.get('dataset') or '?'} / {summary.get('model') or '?'}"
            labels = getattr(record, "labels", None)
            words = [getattr(labels, "name", ""), *(getattr(labels, "tags", None) or ())]
            named = " ".join(word for word in words if word)
            info = f"{named + ' · ' if named else ''}{record.status} · {where}"
            commands.append(
                (f"Open run {record.run_id}", partial(self.app.open_detail, record.run_id), info)
            )
            if record.config:
                rerun = partial(self.app.edit_and_rerun, dict(record.config))
                commands.append((f"Re-run {record.run_id}", rerun, f"edit its config · {info}"))
            if record.status in RESUMABLE:
                resume = partial(ask_resume, self.app, record)
                commands.append((f"Resume run {record.run_id}", resume, f"add epochs · {info}"))
        return commands

    async def discover(self) -> Hits:
        opened = [c for c in self._commands() if c[0].startswith("Open")]
        for text, callback, help_text in opened[:MAX_DISCOVERY_HITS]:
            yield DiscoveryHit(text, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help_text in self._commands():
            score = matcher.match(f"{text} {help_text}")
            if score > 0:
                yield Hit(score, matcher.highlight(text), callback, text=text, help=help_text)
