"""Commands that change runs (delete, resume) act only on run folders inside the runs
folder, found by id — never on a same-named folder in the current directory, a path
elsewhere, `..`, the runs folder itself or an empty id; reading may still take a path.

Every reference tried here points inside the test's own tmp folder (the current directory
is a sub-folder of it, so even `..` stays inside): run against code without these checks,
these tests delete only their own files. Never add `/` or another path outside tmp_path.
"""

from __future__ import annotations

import os
import shutil

import pytest
from textual.widgets import Static
from tui_helpers import async_test, open_runs, wait_for
from tui_store_helpers import write_run

from cnnlab_tui.app import CnnlabApp
from cnnlab_tui.screens.confirm import ConfirmScreen
from engine.cli import main
from engine.errors import RunStoreError
from engine.runs import RunStore

A = "20250101-120000-conv-shapes-aaaa"
B = "20250101-130000-conv-shapes-bbbb"


@pytest.fixture
def in_tmp_cwd(tmp_path, monkeypatch):
    """The current directory (inside tmp_path) holds the runs folder and a backup copy of
    run A, as a careful user keeps one."""
    cwd = tmp_path / "work"
    runs = cwd / "runs"
    write_run(runs, A)
    write_run(runs, B)
    shutil.copytree(runs / A, cwd / A)
    monkeypatch.chdir(cwd)
    return cwd, runs


def test_delete_by_id_removes_the_run_in_the_runs_folder_not_the_copy_in_cwd(in_tmp_cwd):
    cwd, runs = in_tmp_cwd
    RunStore(runs).delete(A)
    assert not (runs / A).exists()
    assert (cwd / A / "summary.json").is_file(), "the backup in the cwd must stay"


@pytest.mark.parametrize(
    "ref",
    ["", "   ", "..", ".", "{other}", "{other}/x", "{runs}", "{runs}/..", "{runs}/sweeps",
     "sweeps", ".hidden", "../runs/{A}", "{cwd}/{A}"],
)  # fmt: skip
def test_delete_refuses_anything_that_is_not_a_run_in_the_runs_folder(in_tmp_cwd, ref):
    cwd, runs = in_tmp_cwd
    other = cwd / "other"
    (other / "x").mkdir(parents=True)
    (runs / "sweeps").mkdir()
    (runs / ".hidden").mkdir()
    ref = ref.format(other=other, runs=runs, A=A, cwd=cwd)
    before = sorted(str(p) for p in cwd.parent.rglob("*"))
    with pytest.raises(RunStoreError):
        RunStore(runs).delete(ref)
    assert sorted(str(p) for p in cwd.parent.rglob("*")) == before, "nothing removed"


def test_delete_refuses_a_link_out_of_the_runs_folder(in_tmp_cwd):
    cwd, runs = in_tmp_cwd
    (runs / "20250101-140000-conv-shapes-link").symlink_to(cwd / A)
    with pytest.raises(RunStoreError, match="link"):
        RunStore(runs).delete("20250101-140000-conv-shapes-link")
    assert (cwd / A / "summary.json").is_file()


def test_delete_takes_the_path_of_a_run_inside_the_runs_folder(in_tmp_cwd):
    _cwd, runs = in_tmp_cwd
    RunStore(runs).delete(str(runs / B))
    assert not (runs / B).exists() and (runs / A).is_dir()


def test_reading_prefers_the_runs_folder_and_refuses_empty_or_non_runs(in_tmp_cwd, capsys):
    cwd, runs = in_tmp_cwd
    store = RunStore(runs)
    assert store.resolve(A) == runs / A  # not ./A
    assert store.resolve(str(cwd / A)) == cwd / A  # a path may still be read
    for ref in ("", str(runs), "."):
        with pytest.raises(RunStoreError):
            store.get(ref)
    assert main(["show", "", "--runs-dir", str(runs)]) == 1
    assert "empty run id" in capsys.readouterr().out
    with pytest.raises(RunStoreError):
        store.get("x" * 400)  # a name too long for the file system is simply no run


def test_resume_refuses_an_empty_id_and_a_folder_outside_the_runs_folder(in_tmp_cwd, capsys):
    cwd, runs = in_tmp_cwd
    assert main(["train", "--resume", "", "--runs-dir", str(runs)]) == 1
    assert "empty run id" in capsys.readouterr().err
    assert not [p for p in runs.iterdir() if p.name not in (A, B)], "no new run started"
    code = main(["train", "--resume", str(cwd / A), "--epochs", "9", "--runs-dir", str(runs)])
    assert code == 1 and "is not a run in" in capsys.readouterr().err.replace("\n", "")


@async_test
async def test_dashboard_delete_removes_the_run_not_a_same_named_folder_in_cwd(in_tmp_cwd):
    cwd, runs = in_tmp_cwd
    assert os.getcwd() == str(cwd)
    app = CnnlabApp(data_root=cwd / "data", runs_dir=runs)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_runs(app, pilot)
        table = screen.query_one("#runs-table")
        await wait_for(pilot, lambda: table.row_count == 2, what="two runs")
        table.move_cursor(row=table.get_row_index(A))
        await pilot.pause()
        assert str(runs / A) in str(screen.query_one("#run-info", Static).render())
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="ask")
        await pilot.press("y")
        await wait_for(pilot, lambda: table.row_ids == [B], what="the row to go")
    assert not (runs / A).exists()
    assert (cwd / A / "summary.json").is_file(), "the copy in the cwd is untouched"
