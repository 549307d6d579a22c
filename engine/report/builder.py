"""Assemble the report: group and aggregate the runs, draw the figures, lay out report.md.

The order follows a student's experiment section: environment, setup, results (table,
charts, observations), one run per setting in detail, the HDC check for dilated models,
and the commands that reproduce everything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from engine.errors import CnnlabError, RunStoreError
from engine.report import content
from engine.report.commands import sweep_command, train_command
from engine.report.environment import environment_rows
from engine.report.figures import FigureMaker, results_figures
from engine.report.i18n import Text, chart_language
from engine.report.markdown import (
    Markdown,
    ResultsBlock,
    RunBlock,
    write_environment,
    write_hdc,
    write_header,
    write_reproduce,
    write_results,
    write_runs,
    write_setup,
)
from engine.sweeps.aggregate import (
    aggregate,
    differing_fields,
    group_runs_by_sweep,
    runs_outside_sweeps,
)
from engine.sweeps.membership import read_membership
from engine.sweeps.state import load_state

log = logging.getLogger(__name__)

REPORT_FILE = "report.md"
TASK_ORDER = ("classify", "dehaze")


def _order(record: Any) -> tuple[str, int, str]:
    """Sweep members in point order (grouped by sweep), other runs oldest first."""
    membership = read_membership(record)
    if membership is None:
        return ("~", 0, record.run_id)
    sweep_id, point = membership
    return (sweep_id, int(point.get("index", 0)), record.run_id)


def _setting_fields(records: Sequence[Any]) -> list[str]:
    groups = group_runs_by_sweep(records)
    if len(groups) == 1 and not runs_outside_sweeps(records) and groups[0].swept_fields:
        return list(groups[0].swept_fields)
    return differing_fields(records)


def _run_block(row: content.SettingRow, records: Sequence[Any], maker: FigureMaker) -> RunBlock:
    text = maker.text
    record = sorted(row.aggregate.records, key=lambda r: int(r.config.get("seed", 0)))[0]
    summary = record.summary or {}
    params = summary.get("params")
    line = text(
        "run_line",
        run_id=record.run_id,
        status=text.status(record.status),
        epochs=summary.get("epochs_completed", len(record.metrics or [])),
        params=f"{params:,}" if isinstance(params, int) else text("missing"),
        seconds=f"{float(summary.get('train_seconds') or 0.0):.1f}",
        device=summary.get("device") or text("missing"),
    )
    dcp = next(
        (
            r
            for r in records
            if (r.config or {}).get("model") == "dcp"
            and (r.config or {}).get("dataset") == (record.config or {}).get("dataset")
        ),
        None,
    )
    figures = [
        maker.run_curves(record),
        maker.confusion(record),
        maker.dehaze_samples(record, dcp) if summary.get("task") == "dehaze" else None,
        *maker.explanation(record),
    ]
    class_rows = []
    per_class, classes = summary.get("per_class_acc"), summary.get("classes")
    if per_class and classes and len(per_class) == len(classes):
        class_rows = [
            (name, "–" if acc is None else f"{acc * 100:.2f}")
            for name, acc in zip(classes, per_class, strict=True)
        ]
    return RunBlock(
        f"{row.ident} · {row.label}", line, [f for f in figures if f is not None], class_rows
    )


def _commands(records: Sequence[Any], text: Text) -> list[tuple[str, str]]:
    """The sweep command for each sweep with a state file, then `train` for other runs."""
    commands: list[tuple[str, str]] = []
    covered: set[str] = set()
    for group in group_runs_by_sweep(records):
        runs_dir = Path(group.records[0].path).parent
        try:
            spec = load_state(runs_dir, group.sweep_id).spec
        except RunStoreError as exc:
            log.info("no state for sweep %s (%s); listing its runs", group.sweep_id, exc)
            continue
        intro = text("reproduce_sweep", sweep_id=group.sweep_id, points=len(spec.points()))
        commands.append((intro, sweep_command(spec)))
        covered.update(record.run_id for record in group.records)
    for record in records:
        if record.run_id not in covered:
            intro = text("reproduce_run", run_id=record.run_id)
            commands.append((intro, train_command(record.config)))
    return commands


def build_report(
    records: Sequence[Any], out_dir: Path, lang: str = "en", report_command: str | None = None
) -> Path:
    """Write `<out_dir>/report.md` and its figures for `records`; returns report.md's path."""
    text = Text(lang)
    usable = [r for r in records if not getattr(r, "damaged", None)]
    for record in records:
        if getattr(record, "damaged", None):
            log.warning("leaving out damaged run %s (%s)", record.run_id, record.damaged)
    if not usable:
        raise CnnlabError("no readable runs to report on")
    usable = sorted(usable, key=_order)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    chart_lang, font = chart_language(lang)
    maker = FigureMaker(out_dir, text, Text(chart_lang), font)
    fields = _setting_fields(usable)

    results: list[ResultsBlock] = []
    run_blocks: list[RunBlock] = []
    tasks = [t for t in TASK_ORDER if any(content.task_of([r]) == t for r in usable)]
    number = 0
    for task in tasks:
        subset = [r for r in usable if content.task_of([r]) == task]
        rows = content.setting_rows(aggregate(subset, fields), start=number + 1)
        number += len(rows)
        head, body = content.results_table(rows, fields, task, text)
        results.append(
            ResultsBlock(
                title=text.metric("test_psnr" if task == "dehaze" else "test_acc")
                if len(tasks) > 1
                else None,
                head=head,
                body=body,
                observations=content.observations(rows, task, text),
                figures=results_figures(rows, task, maker, tag=task),
            )
        )
        run_blocks += [_run_block(row, subset, maker) for row in rows]

    sweeps = group_runs_by_sweep(usable)
    md = Markdown()
    suffix = text("sweeps_suffix", count=len(sweeps)) if sweeps else ""
    from engine import __version__

    generated = text(
        "generated",
        version=__version__,
        date=date.today().isoformat(),
        runs=len(usable),
        sweeps=suffix,
    )
    datasets = sorted({str((r.config or {}).get("dataset")) for r in usable})
    models = sorted({str((r.config or {}).get("model")) for r in usable})
    write_header(
        md,
        text,
        generated,
        text("datasets_line", datasets=", ".join(datasets), models=", ".join(models)),
    )
    write_environment(md, text, environment_rows(usable, text))
    write_setup(md, text, content.common_settings(usable, fields))
    write_results(md, text, results)
    write_runs(md, text, run_blocks)
    write_hdc(md, text, content.hdc_entries(usable))
    write_reproduce(md, text, _commands(usable, text), report_command)
    path = out_dir / REPORT_FILE
    path.write_text(md.render(), encoding="utf-8")
    log.info("wrote %s with %d figures", path, len(maker.written))
    return path
