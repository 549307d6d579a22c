"""The report's observations and chart legends as a reader meets them: a tie is called a
tie (never one setting named both best and lowest), and legends say what each line is
(the differing setting, or the model), not an S1 to look up in the table."""

from __future__ import annotations

import pytest
from test_report import _config, fake_run

from engine.report import charts, content, write_report
from engine.report.i18n import Text
from engine.runs.store import RunStore
from engine.sweeps.aggregate import MeanStd, SettingAggregate


class _Record:
    def __init__(self, model: str) -> None:
        self.config = {"model": model}


def _row(ident: str, acc: float, model: str = "conv", **values) -> content.SettingRow:
    agg = SettingAggregate(values, [_Record(model)], final={"test_acc": MeanStd(acc, 0.0, 1)})
    return content.SettingRow(ident, agg, dict(values))


def _legends(monkeypatch) -> list[list[str]]:
    """Record the legend of every line and bar chart the report draws."""
    seen: list[list[str]] = []
    line, bars = charts.line_chart, charts.bar_chart

    def line_chart(series, *args, **kwargs):
        seen.append([s.label for s in series])
        return line(series, *args, **kwargs)

    def bar_chart(labels, *args, **kwargs):
        seen.append(list(labels))
        return bars(labels, *args, **kwargs)

    monkeypatch.setattr(charts, "line_chart", line_chart)
    monkeypatch.setattr(charts, "bar_chart", bar_chart)
    return seen


def _observations(report) -> list[str]:
    lines = report.read_text().split("\n")
    start = next(i for i, line in enumerate(lines) if line.endswith("# Observations"))
    said = []
    for line in lines[start + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("- "):
            said.append(line)
    return said


def test_two_settings_that_tie_are_called_a_tie_naming_both(tmp_path, monkeypatch):
    root = tmp_path / "runs"
    fake_run(root, "20250101-000000-conv-shapes-0000", _config(lr=0.01), [0.5, 0.6])
    fake_run(root, "20250101-000001-conv-shapes-0000", _config(lr=0.001), [0.4, 0.6])
    seen = _legends(monkeypatch)
    report = write_report(RunStore(root).list_runs(), tmp_path / "out", "en")
    said = _observations(report)
    tie = [line for line in said if "tie" in line]
    assert tie == [
        "- Every setting ties on test accuracy (%): S1 (lr=0.01) and S2 (lr=0.001), 60.00 each."
    ]
    assert not any(line.startswith(("- Best", "- Lowest")) for line in said)
    assert seen and all(legend == ["lr=0.01", "lr=0.001"] for legend in seen)


def test_a_tie_at_one_end_names_every_tied_setting():
    rows = [_row("S1", 0.6, lr=0.01), _row("S2", 0.6, lr=0.001), _row("S3", 0.4, lr=0.1)]
    said = content.observations(content.setting_rows([r.aggregate for r in rows]), "classify",
                                Text("en"))  # fmt: skip
    assert said[0] == "Best test accuracy (%): S1 (lr=0.01) and S2 (lr=0.001) tie at 60.00."
    assert said[1] == "Lowest test accuracy (%): S3 (lr=0.1), 40.00 ± 0.00."
    zh = content.observations(content.setting_rows([r.aggregate for r in rows]), "classify",
                              Text("zh"))  # fmt: skip
    assert "S1 (lr=0.01)与S2 (lr=0.001)并列" in zh[0] and "60.00" in zh[0]


def test_legends_name_the_models_and_settings_not_s1(tmp_path, monkeypatch):
    """Two models with their own options and learning rates: the setting label is longer
    than a legend takes, so it is shortened — model first, options without `model.`."""
    root = tmp_path / "runs"
    conv = _config(lr=0.01, model_options={"widths": [8, 16, 32]})
    dilated = _config(model="dilated", lr=0.001, model_options={"dilations": [1, 2, 5]})
    fake_run(root, "20250101-000000-conv-shapes-0000", conv, [0.5, 0.6])
    fake_run(root, "20250101-000001-dilated-shapes-0000", dilated, [0.4, 0.7])
    seen = _legends(monkeypatch)
    report = write_report(RunStore(root).list_runs(), tmp_path / "out", "en")
    assert seen
    for legend in seen:
        assert legend == ["conv lr=0.01 widths=[8,16,32]", "dilated lr=0.001 dilations=[1,2,5]"]
    best = next(line for line in _observations(report) if line.startswith("- Best"))
    assert "S2 (dilated lr=0.001 dilations=[1,2,5])" in best


@pytest.mark.parametrize("limit", [12, 20])
def test_shortened_legends_stay_distinct_and_one_setting_is_its_model(limit):
    long = {"model.widths": [8, 16, 32, 64], "lr": 0.01}
    rows = content.setting_rows(
        [_row("", 0.5, **long).aggregate, _row("", 0.5, **{**long, "lr": 0.001}).aggregate]
    )
    legends = [content.compact_label(row, limit) for row in rows]
    assert all(len(legend) <= limit and legend.endswith("…") for legend in legends)
    # setting_rows keeps every legend unique: cut to the same text, the id goes in front.
    assert len({row.legend for row in rows}) == 2
    single = content.setting_rows([_row("", 0.5, model="dilated").aggregate])[0]
    assert single.legend == "dilated"
