"""`cnnlab ops demo|check` and `cnnlab hdc`, driven through engine.cli.main."""

from __future__ import annotations

from engine.cli import main
from engine.ops import oracle


def test_ops_demo_prints_the_lab_results(capsys):
    assert main(["ops", "demo"]) == 0
    out = capsys.readouterr().out
    for expected in ("19 25", "37 43", " 56  72", "104 120", "4 5", "2 3", "(4, 6, 6)"):
        assert expected in out
    assert " 0  1  0  0  0 -1  0" in out
    assert "K =  1.0000 -1.0000" in out


def test_ops_check_passes_and_prints_a_row_per_config(capsys):
    assert main(["ops", "check"]) == 0
    out = capsys.readouterr().out
    total = len(oracle.check_grid())
    assert f"{total}/{total} configurations match torch" in out
    assert "FAIL" not in out
    assert out.count("conv2d x") + out.count("pool2d x") == total


def test_ops_check_exits_non_zero_when_an_op_is_wrong(capsys, monkeypatch):
    ours, theirs = oracle.OPS["max_pool2d"]
    monkeypatch.setitem(oracle.OPS, "max_pool2d", (lambda *a, **k: ours(*a, **k) * 1.001, theirs))
    assert main(["ops", "check", "--dtype", "float32"]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out
    assert f"{len(oracle.check_grid()) - 3}/{len(oracle.check_grid())}" in out


def test_hdc_prints_table_and_verdict(capsys):
    assert main(["hdc", "1", "2", "5", "--kernel", "3"]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "FAILS" not in out
    rows = [line.split("│")[1:4] for line in out.splitlines() if line.count("│") == 4]
    assert [[c.strip() for c in row] for row in rows] == [
        ["1", "1", "1"],
        ["2", "2", "2"],
        ["3", "5", "5"],
    ]


def test_hdc_reports_why_a_stack_fails_and_draws_the_holes(capsys):
    assert main(["hdc", "2", "4", "6", "--map"]) == 0
    out = capsys.readouterr().out
    assert "FAILS" in out and "common factor 2" in out and "M_2 = 4 > k = 3" in out
    assert "missed" in out and "·" in out


def test_hdc_bad_input_is_an_error_message_not_a_traceback(capsys):
    assert main(["hdc", "1", "0", "--kernel", "3"]) == 2
    err = capsys.readouterr().err
    assert "dilation rate must be an int" in err and "Traceback" not in err


def test_ops_check_grid_covers_every_op():
    assert {case.op for case in oracle.check_grid()} == set(oracle.OPS)
