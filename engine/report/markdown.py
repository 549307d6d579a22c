"""Writing report.md: a tiny Markdown builder and one function per report section.

Sections receive computed tables, sentences and figures; they only lay them out, so the
layout is the same in every language and easy to change in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.report.content import HDCEntry
from engine.report.figures import Figure
from engine.report.i18n import Text


def _cell(value: object) -> str:
    """Table cells cannot hold pipes or newlines."""
    return str(value).replace("|", "\\|").replace("\n", " ")


class Markdown:
    """Accumulates Markdown blocks separated by blank lines."""

    def __init__(self) -> None:
        self._blocks: list[str] = []

    def heading(self, level: int, title: str) -> None:
        self._blocks.append(f"{'#' * level} {title}")

    def paragraph(self, text: str) -> None:
        if text:
            self._blocks.append(text)

    def bullets(self, items: Sequence[str]) -> None:
        if items:
            self._blocks.append("\n".join(f"- {item}" for item in items))

    def table(self, head: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        lines = [
            "| " + " | ".join(_cell(h) for h in head) + " |",
            "|" + "|".join("---" for _ in head) + "|",
        ]
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
        self._blocks.append("\n".join(lines))

    def figure(self, figure: Figure) -> None:
        self._blocks.append(f"![{_cell(figure.caption)}]({figure.path})\n\n*{figure.caption}*")

    def code(self, text: str, language: str = "bash") -> None:
        self._blocks.append(f"```{language}\n{text}\n```")

    def render(self) -> str:
        return "\n\n".join(self._blocks) + "\n"


@dataclass
class ResultsBlock:
    """Results of one group of runs (one task): table, sentences, figures."""

    title: str | None
    head: list[str]
    body: list[list[str]]
    observations: list[str]
    figures: list[Figure]


@dataclass
class RunBlock:
    """The detail of one run shown for its setting."""

    title: str
    line: str
    figures: list[Figure]
    class_rows: list[tuple[str, str]] = field(default_factory=list)


def write_header(md: Markdown, text: Text, generated: str, datasets_line: str) -> None:
    md.heading(1, text("title"))
    md.paragraph(generated)
    md.paragraph(datasets_line)


def write_environment(md: Markdown, text: Text, rows: Sequence[tuple[str, str]]) -> None:
    md.heading(2, text("environment"))
    md.table([text("item"), text("value")], rows)
    md.paragraph(f"*{text('env_note')}*")


def write_setup(md: Markdown, text: Text, rows: Sequence[tuple[str, str]]) -> None:
    md.heading(2, text("setup"))
    md.paragraph(text("setup_intro"))
    md.table([text("setting"), text("value")], rows)


def write_results(md: Markdown, text: Text, blocks: Sequence[ResultsBlock]) -> None:
    md.heading(2, text("results"))
    md.paragraph(text("results_intro"))
    for block in blocks:
        if block.title:
            md.heading(3, block.title)
        md.table(block.head, block.body)
        for figure in block.figures:
            md.figure(figure)
        if block.observations:
            md.heading(4 if block.title else 3, text("observations"))
            md.bullets(block.observations)


def write_runs(md: Markdown, text: Text, blocks: Sequence[RunBlock]) -> None:
    md.heading(2, text("runs"))
    md.paragraph(text("runs_intro"))
    for block in blocks:
        md.heading(3, block.title)
        md.paragraph(block.line)
        for figure in block.figures:
            md.figure(figure)
        if block.class_rows:
            md.table([text("class"), text("class_acc")], block.class_rows)


def write_hdc(md: Markdown, text: Text, entries: Sequence[HDCEntry]) -> None:
    if not entries:
        return
    md.heading(2, text("hdc"))
    md.paragraph(text("hdc_intro"))
    for entry in entries:
        report = entry.report
        dilations = "[" + ", ".join(str(d) for d in entry.dilations) + "]"
        md.heading(
            3, text("hdc_model", model=entry.model, dilations=dilations, k=entry.kernel_size)
        )
        rows = [
            (i, rate, m)
            for i, (rate, m) in enumerate(zip(report.dilations, report.m_values, strict=True), 1)
        ]
        md.table([text("hdc_layer"), text("hdc_rate"), "M_i"], rows)
        if report.ok:
            m2 = report.m_values[1] if len(report.m_values) > 1 else report.m_values[0]
            md.paragraph(text("hdc_ok", m2=m2, k=entry.kernel_size))
        else:
            md.paragraph(text("hdc_bad", reasons="; ".join(report.reasons)))


def write_reproduce(
    md: Markdown, text: Text, commands: Sequence[tuple[str, str]], report_command: str | None
) -> None:
    """`commands`: (introduction, command) pairs — sweeps first, then single runs."""
    md.heading(2, text("reproduce"))
    md.paragraph(text("reproduce_intro"))
    for intro, command in commands:
        md.paragraph(intro)
        md.code(command)
    if report_command:
        md.paragraph(text("reproduce_report"))
        md.code(report_command)
