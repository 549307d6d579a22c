"""`cnnlab ops demo|check` and `cnnlab hdc`: the hand-written ops from the command line.

`ops demo` prints the lab's examples as computed by `engine.ops`; `ops check` compares the
ops with torch over a fixed grid (exit 1 on any mismatch); `hdc` prints the HDC table.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from engine.errors import CnnlabError

if TYPE_CHECKING:
    import torch

DTYPES = ("float32", "float64")  # torch dtype names `ops check` compares in


def register(subparsers) -> None:
    """Add `ops` (with `demo` and `check`) and `hdc`."""
    ops = subparsers.add_parser("ops", help="hand-written convolution and pooling")
    ops_sub = ops.add_subparsers(dest="ops_command", metavar="OPS_COMMAND", required=True)
    demo = ops_sub.add_parser("demo", help="print the lab's examples computed by engine.ops")
    demo.set_defaults(func=run_demo)
    check = ops_sub.add_parser("check", help="compare the ops with torch (forward and grads)")
    check.add_argument("--dtype", choices=DTYPES, default="float64")
    check.set_defaults(func=run_check)

    hdc = subparsers.add_parser("hdc", help="Hybrid Dilated Convolution check of dilations")
    hdc.add_argument("dilations", type=int, nargs="+", help="dilation rate of each layer")
    hdc.add_argument("--kernel", "-k", type=int, default=3, help="kernel size (default 3)")
    hdc.add_argument("--map", action="store_true", help="also draw which input pixels are seen")
    hdc.set_defaults(func=run_hdc)


def _console() -> Console:
    return Console(highlight=False)


def _matrix(t: torch.Tensor) -> str:
    """A small 2-D tensor as aligned rows of numbers (integers shown without decimals)."""
    values = t.tolist()
    exact = all(float(v).is_integer() for row in values for v in row)
    cells = [[f"{v:.0f}" if exact else f"{v:.4f}" for v in row] for row in values]
    width = max(len(c) for row in cells for c in row)
    return "\n".join(" ".join(c.rjust(width) for c in row) for row in cells)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def run_demo(args: argparse.Namespace) -> int:
    """The lab's worked examples, each computed by the code rather than copied."""
    import torch

    from engine.ops.learn import learn_kernel
    from engine.ops.reference import (
        corr2d,
        corr2d_multi_in,
        corr2d_multi_in_out,
        edge_image,
        pool2d,
    )

    console = _console()
    x = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    k = torch.tensor([[0, 1], [2, 3]])
    console.print(Panel(_matrix(corr2d(x, k)), title="corr2d(X 3x3, K 2x2)", expand=False))
    x2 = torch.stack([x, x + 1])
    k2 = torch.stack([k, k + 1])
    console.print(
        Panel(_matrix(corr2d_multi_in(x2, k2)), title="corr2d_multi_in (2 channels)", expand=False)
    )
    y = corr2d_multi_in_out(torch.arange(192.0).view(3, 8, 8), torch.arange(108.0).view(4, 3, 3, 3))
    console.print(f"corr2d_multi_in_out: X (3, 8, 8) x K (4, 3, 3, 3) -> Y {tuple(y.shape)}")
    console.print(Panel(_matrix(pool2d(x, (2, 2))), title="pool2d max 2x2", expand=False))
    console.print(Panel(_matrix(pool2d(x, (2, 2), "avg")), title="pool2d avg 2x2", expand=False))
    edges = corr2d(edge_image(), torch.tensor([[1, -1]]))
    console.print(Panel(_matrix(edges), title="edge image 6x8 * K=[[1,-1]]", expand=False))
    learned = learn_kernel()
    steps = "\n".join(f"step {i:2d}: loss {learned.losses[i - 1]:.4f}" for i in (5, 10, 20, 60))
    console.print(
        Panel(
            f"{steps}\nK = {_matrix(learned.kernel)}, bias = {learned.bias + 0.0:.4f}".replace(
                "-0.0000", "0.0000"
            ),
            title="learn_kernel: gradient descent recovers K",
            expand=False,
        )
    )
    return 0


def run_check(args: argparse.Namespace) -> int:
    """Oracle comparison against torch.nn.functional; non-zero exit on any failure."""
    import torch

    from engine.ops.oracle import check_grid, run_case

    dtype = getattr(torch, args.dtype)
    table = Table(title=f"engine.ops vs torch, {args.dtype}: max |error| (relative if |ref| > 1)")
    for column in ("config", "forward", "grad input", "grad weight", "grad bias", "pass"):
        table.add_column(column, justify="left" if column == "config" else "right")
    failures = 0
    for case in check_grid():
        result = run_case(case, dtype)
        failures += not result.passed
        grads = [result.grads.get(name) for name in ("input", "weight", "bias")]
        cells = [f"{result.forward:.1e}"] + ["-" if g is None else f"{g:.1e}" for g in grads]
        verdict = "[green]ok[/]" if result.passed else "[bold red]FAIL[/]"
        table.add_row(case.describe(), *cells, verdict)
    console = _console()
    console.print(table)
    total = len(check_grid())
    console.print(f"{total - failures}/{total} configurations match torch")
    return 1 if failures else 0


def run_hdc(args: argparse.Namespace) -> int:
    """M_i table and verdict for a stack of dilation rates."""
    from engine.ops.arithmetic import gridding_map, hdc_check

    try:
        report = hdc_check(args.dilations, args.kernel)
        counts = gridding_map(args.dilations, args.kernel) if args.map else None
    except CnnlabError as err:
        return _fail(str(err))
    table = Table(title=f"HDC check: dilations {list(report.dilations)}, k = {report.kernel_size}")
    for column in ("layer i", "r_i", "M_i"):
        table.add_column(column, justify="right")
    for layer, rate, m in report.table():
        table.add_row(str(layer), str(rate), str(m))
    console = _console()
    console.print(table)
    if report.ok:
        console.print("[green]OK[/]: no common factor and M_2 ≤ k — no gridding")
    else:
        console.print("[bold red]FAILS[/]:")
        for reason in report.reasons:
            console.print(f"  - {reason}")
    if counts is not None:
        rows = ["".join("█" if c else "·" for c in row) for row in (counts > 0).tolist()]
        missed = int((counts == 0).sum())
        console.print(Panel("\n".join(rows), title=f"pixels seen ({missed} missed)", expand=False))
    return 0
