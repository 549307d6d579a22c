"""Command palette entries for the runs in the store: "Open run …", "Re-run …" and, for an
interrupted or cancelled run, "Resume run …" (asks how many epochs to add).

Typing part of a run id (or its data set / model) after ctrl+p jumps straight to it, from
the Runs, Run detail and Compare screens — faster than scrolling a long table over SSH.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

from cnnlab_tui.screens.resume_dialog import ask_resume

log = logging.getLogger(__name__)

MAX_DISCOVERY_HITS = 5
RESUMABLE = ("interrupted", "cancelled")  # offered in the palette (`r` tries any run)


class RunCommands(Provider):
    """One "Open run" and one "Re-run" command per run, newest runs first."""

    async def startup(self) -> None:
        try:
            self._records = await asyncio.to_thread(self._list_runs)
        except Exception as exc:  # the palette must open even when the store cannot
            log.warning("run commands unavailable: %s", exc)
            self._records = []

    def _list_runs(self) -> list[Any]:
        """The store's runs (a thread: the engine may still be loading)."""
        self.app.engine.wait()
        return self.app.store.list_runs()

    def _commands(self) -> list[tuple[str, Any, str]]:
        """(text, callback, help) for every run."""
        commands = []
        for record in self._records:
            summary = record.summary or {}
            where = f"{summary.get('dataset') or '?'} / {summary.get('model') or '?'}"
            info = f"{record.status} · {where}"
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
