"""The lab report: charts that exist and open, mean ± std tables, both languages, HDC,
dehazing sample grids and commands that reproduce a sweep.

Most tests write run folders by hand in the run-store format (fast, no training); the
end-to-end sweep → report test lives in tests/test_sweeps.py next to the sweeps it runs.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import CnnlabError
from engine.report import write_report
from engine.report.charts import Series, line_chart
from engine.report.commands import sweep_command, train_command
from engine.report.i18n import Text, chart_language, find_cjk_font
from engine.runs.files import write_json_atomic
from engine.runs.store import RunStore
from engine.sweeps import SweepSpec

CLASSES = ["circle", "square", "triangle"]


def _config(**changes):
    from engine.trainer.config import TrainConfig

    values = {"dataset": "shapes", "image_size": 16, "epochs": 3, **changes}
    return TrainConfig(**values).to_dict()


def fake_run(
    root: Path,
    run_id: str,
    config: dict,
    accs: list[float],
    *,
    task="classify",
    sweep: str | None = None,
    index: int = 0,
    setting: dict | None = None,
) -> Path:
    """A completed run folder as RunWriter would leave it (metrics rise with `accs`)."""
    folder = root / run_id
    folder.mkdir(parents=True)
    rows = []
    for epoch, acc in enumerate(accs, start=1):
        row = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "test_loss": 1.1 / epoch,
            "lr": config["lr"],
            "seconds": 0.5 + 0.1 * epoch,
            "images_per_second": 900.0,
        }
        if task == "classify":
            row.update(train_acc=min(acc + 0.05, 1.0), test_acc=acc)
        else:
            row.update(test_psnr=15.0 + 2 * epoch + acc, test_ssim=0.5 + acc / 4)
        rows.append(row)
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_json_atomic(folder / "config.json", config)
    summary = {
        "run_id": run_id, "status": "completed", "task": task, "dataset": config["dataset"],
        "model": config["model"], "config": config, "epochs_completed": len(rows),
        "final": {k: v for k, v in rows[-1].items() if k.startswith("test")},
        "best": {"epoch": len(rows), **{k: v for k, v in rows[-1].items() if k.startswith("test")}},
        "train_seconds": sum(r["seconds"] for r in rows), "images_per_second": 900.0,
        "params": 4321, "device": "cpu", "torch_version": "2.14.1", "error": None,
        "host": socket.gethostname(), "pid": 1,
    }  # fmt: skip
    if task == "classify":
        summary.update(classes=CLASSES, per_class_acc=[0.9, 0.75, None],
                       confusion=[[9, 1, 0], [1, 3, 0], [0, 0, 0]])  # fmt: skip
    if sweep:
        summary["sweep_id"] = sweep
        summary["sweep_point"] = {"index": index, "setting": setting or {}, "seed": config["seed"]}
    write_json_atomic(folder / "summary.json", summary)
    return folder


@pytest.fixture(scope="module")
def sweep_store(tmp_path_factory) -> RunStore:
    """2 learning rates × 2 seeds as one sweep, plus a single dilated run (HDC)."""
    root = tmp_path_factory.mktemp("report") / "runs"
    accs = {(0.01, 0): [0.5, 0.7, 0.8], (0.01, 1): [0.5, 0.7, 0.9],
            (0.001, 0): [0.3, 0.4, 0.5], (0.001, 1): [0.3, 0.4, 0.6]}  # fmt: skip
    for index, ((lr, seed), series) in enumerate(accs.items()):
        fake_run(root, f"20250101-00000{index}-conv-shapes-0000", _config(lr=lr, seed=seed),
                 series, sweep="sweep-t-1", index=index, setting={"lr": lr})  # fmt: skip
    fake_run(
        root,
        "20250101-000100-dilated-shapes-0000",
        _config(model="dilated", model_options={"dilations": [2, 4, 6]}),
        [0.4, 0.5, 0.55],
    )
    return RunStore(root)  # fmt: skip


@pytest.fixture(scope="module")
def reports(sweep_store, tmp_path_factory) -> dict[str, Path]:
    """report.md of the sweep store in English and in Chinese (drawn once for the module)."""
    out = tmp_path_factory.mktemp("reports")
    records = sweep_store.list_runs()
    return {lang: write_report(records, out / lang, lang) for lang in ("en", "zh")}


def _referenced_pngs(report: Path) -> list[Path]:
    links = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report.read_text(encoding="utf-8"))
    return [report.parent / link for link in links]


def _results_table(report: Path) -> list[list[str]]:
    """Body rows of the first table after the Results heading."""
    text = report.read_text(encoding="utf-8")
    section = text.split("\n## Results")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| S")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_every_referenced_chart_exists_and_opens(reports):
    pngs = _referenced_pngs(reports["en"])
    # 4 comparison charts + per setting (3): curves and confusion matrix
    assert len(pngs) == 4 + 3 * 2
    for png in pngs:
        with Image.open(png) as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 200


def test_results_table_holds_mean_and_std_per_setting(reports):
    report = reports["en"]
    rows = _results_table(report)
    assert [row[0] for row in rows] == ["S1", "S2", "S3"]
    by_id = {row[0]: row for row in rows}
    # lr=0.01, seeds 0/1 → final test acc 80 and 90 % → 85.00 ± 7.07 (sample std)
    assert "0.01" in by_id["S1"] and "0, 1" in by_id["S1"]
    assert "85.00 ± 7.07" in by_id["S1"]
    assert "55.00 ± 7.07" in by_id["S2"]  # lr=0.001: 50 and 60 %
    assert "55.00 ± 0.00" in by_id["S3"]  # a single seed has std 0
    head = next(line for line in report.read_text("utf-8").splitlines() if line.startswith("| # |"))
    columns = [cell.strip() for cell in head.strip("|").split("|")]
    dilations = columns.index("model.dilations")
    assert by_id["S3"][dilations] == "[2,4,6]" and by_id["S1"][dilations] == "—"


def test_zh_translates_words_and_keeps_every_number(reports):
    english = reports["en"].read_text(encoding="utf-8")
    chinese = reports["zh"].read_text(encoding="utf-8")
    headings = lambda text: re.findall(r"^#+ (.*)$", text, flags=re.M)  # noqa: E731
    assert "## 实验结果" in chinese and "## Results" in english
    assert "## 实验环境" in chinese and "## 复现方法" in chinese
    assert len(headings(english)) == len(headings(chinese))
    assert set(headings(english)).isdisjoint({"实验结果", "实验设置"})
    numbers = lambda text: re.findall(r"\d+\.\d+ ± \d+\.\d+", text)  # noqa: E731
    assert numbers(english) == numbers(chinese) and len(numbers(english)) > 10
    assert "测试准确率 (%)" in chinese  # table heads translated too


def test_dilated_runs_get_the_hdc_table(reports):
    text = reports["en"].read_text("utf-8")
    section = text.split("## Hybrid dilated convolution (HDC) check")[1].split("\n## ")[0]
    assert "dilations [2, 4, 6], k = 3" in section
    assert "| 1 | 2 | 2 |" in section and "| 2 | 4 | 4 |" in section
    assert (
        "| 3 | 6 | 6 |" in section and "Not satisfied" in section and "common factor 2" in section
    )


def test_no_hdc_section_without_dilated_models(sweep_store, tmp_path):
    records = [r for r in sweep_store.list_runs() if r.config["model"] == "conv"]
    text = write_report(records, tmp_path / "out", "en").read_text("utf-8")
    assert "HDC" not in text


def _triptych(width: int, shade: int) -> Image.Image:
    """hazy | output | clear with 2-pixel white gaps, as the trainer saves them."""
    panels = [np.full((width, width, 3), shade + 40 * i, dtype=np.uint8) for i in range(3)]
    gap = np.full((width, 2, 3), 255, dtype=np.uint8)
    return Image.fromarray(np.concatenate([panels[0], gap, panels[1], gap, panels[2]], axis=1))


def test_dehaze_report_shows_samples_with_a_dcp_column(tmp_path):
    root = tmp_path / "runs"
    for run_id, model, shade in (("20250101-000000-aod-0", "aod_net", 10),
                                 ("20250101-000001-dcp-0", "dcp", 100)):  # fmt: skip
        config = _config(dataset="haze_synth", model=model)
        folder = fake_run(root, run_id, config, [0.1, 0.2], task="dehaze")
        (folder / "samples").mkdir()
        names = []
        for image in range(3):
            name = f"samples/epoch002_{image}_img{image}.png"
            _triptych(12, shade).save(folder / name)
            names.append(name)
        summary = json.loads((folder / "summary.json").read_text())
        write_json_atomic(folder / "summary.json", {**summary, "samples": names})
    report = write_report(RunStore(root).list_runs(), tmp_path / "out", "en")
    text = report.read_text("utf-8")
    assert "hazy input | model output | DCP | clear reference" in text
    assert "test PSNR (dB)" in text and "confusion" not in text
    for png in _referenced_pngs(report):
        with Image.open(png) as image:
            image.verify()


def test_unknown_language_and_no_runs_are_clear_errors(sweep_store, tmp_path):
    with pytest.raises(CnnlabError, match="language 'fr'"):
        write_report(sweep_store.list_runs(), tmp_path / "out", "fr")
    with pytest.raises(CnnlabError, match="no readable runs"):
        write_report([], tmp_path / "out", "en")


def test_chart_text_is_english_unless_a_cjk_font_exists():
    lang, font = chart_language("zh")
    assert (lang, font) == (("zh", find_cjk_font()) if find_cjk_font() else ("en", None))
    assert chart_language("en") == ("en", None)
    assert Text("zh").metric("test_acc") == "测试准确率 (%)"


def test_line_chart_draws_bands(tmp_path):
    path = line_chart([Series("a", [1, 2], [0.5, 0.6], band=[0.1, 0.1])], tmp_path / "c.png",
                      title="t", xlabel="epoch", ylabel="acc")  # fmt: skip
    with Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    # the band is the line colour at 20 % alpha: a light blue that only the band draws
    assert ((pixels[:, 2] > 200) & (pixels[:, 0] > 150) & (pixels[:, 0] < 230)).sum() > 500


def test_train_command_repeats_only_what_differs_from_the_defaults():
    config = _config(lr=0.01, seed=2, model_options={"widths": [4, 8]})
    command = train_command(config)
    assert command.startswith("cnnlab train ")
    assert "--lr 0.01" in command and "--seed 2" in command and "--image-size 16" in command
    assert "--model-opt widths=4,8" in command
    assert "--optimizer" not in command and "--batch-size" not in command


def test_sweep_command_round_trips_to_the_same_sweep_id():
    from engine.cli import build_parser
    from engine.cli.sweep_cmd import build_spec_from_args
    from engine.presets import resolve_config

    for preset, overrides in [
        (None, {"epochs": 1, "image_size": 16, "model_options": {"widths": [4, 8]}}),
        ("lab-dilated", {"epochs": 1, "model_options": {"dilations": [1, 2, 3]}}),
        ("lab-dilated", {"model": "conv", "lr": 0.01}),
    ]:
        spec = SweepSpec(
            resolve_config(preset, overrides),
            {"lr": [0.01, 0.001], "model.kernel_size": [3, 5]}, [0, 1],
        )  # fmt: skip
        words = shlex.split(sweep_command(spec))[1:]
        again = build_spec_from_args(build_parser().parse_args(words))
        assert again.to_dict() == spec.to_dict() and again.sweep_id == spec.sweep_id


@pytest.mark.parametrize(
    "changes",
    [
        {"lr": 0.01, "seed": 2, "amp": True, "model_options": {"widths": [4, 8]}},
        {"preset": "lab-dilated", "epochs": 1, "data_root": "/", "max_train_batches": 2},
        {"preset": "lab-conv", "model": "mlp", "model_options": {"hidden": [16]}},
    ],
)
def test_train_command_rebuilds_the_same_config(changes):
    from engine.cli import build_parser
    from engine.cli.train_cmd import config_from_args
    from engine.presets import resolve_config

    config = resolve_config(changes.pop("preset", None), changes)
    args = build_parser().parse_args(shlex.split(train_command(config.to_dict()))[1:])
    assert config_from_args(args).to_dict() == config.to_dict()


def test_with_a_cjk_font_chart_text_follows_the_language(tmp_path, monkeypatch):
    import warnings

    from engine.report import i18n

    monkeypatch.setattr(i18n, "find_cjk_font", lambda: "DejaVu Sans")  # stands in for one
    assert i18n.chart_language("zh") == ("zh", "DejaVu Sans")
    root = tmp_path / "runs"
    fake_run(root, "20250101-000000-conv-shapes-0000", _config(), [0.5, 0.6])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DejaVu has no CJK glyphs: boxes, with warnings
        report = write_report(RunStore(root).list_runs(), tmp_path / "zh", "zh")
    for png in _referenced_pngs(report):
        with Image.open(png) as image:
            image.verify()


def test_a_report_is_refused_where_it_would_be_taken_for_a_run(tmp_path, capsys):
    """Directly inside the runs folder a report folder would list as a (damaged) run, be
    offered for comparison and picked as `latest`; `reports/` there and folders elsewhere
    are fine."""
    from tui_store_helpers import write_run

    from engine.cli import main
    from engine.runs import RunStore

    runs = tmp_path / "runs"
    write_run(runs, "20250101-000000-conv-shapes-aaaa")
    args = ["report", "20250101-000000-conv-shapes-aaaa", "--runs-dir", str(runs), "--out"]
    for bad in (runs / "my-report", runs):
        assert main([*args, str(bad)]) == 1
        assert "would be taken for a run" in capsys.readouterr().out.replace("\n", " ")
    assert [r.run_id for r in RunStore(runs).list_runs()] == ["20250101-000000-conv-shapes-aaaa"]
    assert main([*args, str(runs / "reports" / "x")]) == 0
    assert main([*args, str(tmp_path / "elsewhere")]) == 0
    assert [r.run_id for r in RunStore(runs).list_runs()] == ["20250101-000000-conv-shapes-aaaa"]
