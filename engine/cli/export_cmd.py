"""`cnnlab export RUN --format onnx|torchscript|export|state-dict [--out FILE]`: a trained
run as a file other programs load, verified after writing (the check is printed). Exit 1
when the run cannot be exported or the exported file does not reproduce the model."""

from __future__ import annotations

import argparse

from rich.console import Console

from engine.cli.use_common import add_run_flags, error_console, load, print_notes


def register(subparsers) -> None:
    from engine.use.records import EXPORT_FORMATS as FORMATS
    from engine.use.records import EXPORT_TOLERANCE as TOLERANCE
    from engine.use.records import ONNX_OPSET

    parser = subparsers.add_parser(
        "export",
        help="write a trained run as ONNX, TorchScript, torch.export or a state dict",
        description="Export a trained run (normalisation and TTA inside; input: RGB in "
        f"[0, 1] at the run's image size) and verify the file: its outputs must equal "
        f"torch's within {TOLERANCE:g} on a batch of the run's test images. ONNX uses "
        f"opset {ONNX_OPSET} and is checked with onnxruntime (pip install 'cnnlab[export]').",
    )
    add_run_flags(parser, device=False)
    parser.add_argument("--format", choices=FORMATS, required=True, help="file format")
    parser.add_argument(
        "--out",
        default=None,
        metavar="FILE",
        help="where to write (default ./<run id>.<format extension>)",
    )
    parser.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from engine.use.export import export_run

    notes_out = error_console()
    loaded = load(args, notes_out, device="cpu")
    console = Console(highlight=False)
    with notes_out.status(f"exporting {loaded.run_id} as {args.format}…"):
        result = export_run(loaded, args.format, args.out)
    opset = f" (ONNX opset {result.opset})" if result.opset else ""
    console.print(f"wrote [bold]{result.path}[/]{opset} and {result.sidecar}")
    console.print(f"checked on {result.batch}:")
    for check in result.checks:
        console.print(f"  {check.text()}")
    print_notes(notes_out, result.notes)
    return 0
