"""`cnnlab explain RUN`: the run's misclassified test images (worst first) with Grad-CAM,
its most common confusions, the first conv layer's filters and one image's feature maps —
drawn in half blocks here, saved as PNGs in `<run>/explain/` (paths printed)."""

from __future__ import annotations

import argparse

from rich.columns import Columns
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from engine.cli.use_common import add_run_flags, error_console, load, print_notes, progress_bar

CELL_COLUMNS, CELL_ROWS = 24, 6  # one gallery picture in the terminal (image | Grad-CAM)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="misclassified test images with Grad-CAM, filters, feature maps",
        description="Explain a run's test errors: most confident mistakes first, each with "
        "the Grad-CAM of the predicted class; dehazing: the worst-restored images. Also the "
        "first conv layer's filters and one image's feature maps per block.",
    )
    add_run_flags(parser)
    parser.add_argument("--limit", type=int, default=12, metavar="N", help="images to show")
    parser.add_argument("--no-pictures", action="store_true", help="paths only, no drawings")
    parser.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from engine.runs import RunStore
    from engine.use.explain import explain_run
    from engine.use.run_folder import writable_run_dir

    notes_out = error_console()
    run_dir = writable_run_dir(RunStore(args.runs_dir), args.run)  # explain/ goes there
    args.run = str(run_dir)
    loaded = load(args, notes_out)
    with progress_bar(notes_out, "explaining") as report:
        index = explain_run(loaded, limit=max(args.limit, 0), progress=report)
    print_explanation(Console(highlight=False), index, run_dir, pictures=not args.no_pictures)
    print_notes(notes_out, index.get("notes", []))
    return 0


def print_explanation(console: Console, index: dict, run_dir, *, pictures: bool = True) -> None:
    images = index.get("images", [])
    if index.get("task") == "classify":
        console.print(
            f"[bold]{index['errors']} of {index['num_test']} test images misclassified[/] "
            f"(accuracy {100 * index['accuracy']:.1f} %); Grad-CAM at "
            f"{index.get('gradcam_layer') or '— (' + str(index.get('gradcam_note')) + ')'}"
        )
        if index.get("confusions"):
            table = Table("true", "predicted as", "images", box=None, header_style="bold")
            for row in index["confusions"][:8]:
                table.add_row(row["true"], row["predicted"], str(row["count"]))
            console.print(table)
    else:
        console.print(
            f"[bold]worst-restored test images[/] (mean PSNR {index['mean_psnr']:.2f} dB)"
        )
    cells = [_cell(entry, run_dir, pictures) for entry in images]
    if cells:
        console.print(Columns(cells, padding=(1, 2)))
    if index.get("filters"):
        console.print(
            f"first conv layer's filters {index.get('filters_shape')}: {run_dir / index['filters']}"
        )
        if pictures:
            console.print(_drawing(run_dir / index["filters"], 32, 8))
    for entry in index.get("feature_maps", []):
        console.print(
            f"feature maps of {index.get('feature_image')} at {entry['block']}: "
            f"{run_dir / entry['picture']}"
        )


def _cell(entry: dict, run_dir, pictures: bool):
    if "true" in entry:
        title = f"{entry['true']} → {entry['predicted']} ({100 * entry['confidence']:.0f} %)"
    else:
        title = f"PSNR {entry['psnr']:.2f} dB · SSIM {entry['ssim']:.3f}"
    lines = [
        Text(f"#{entry['rank']} {title}", style="bold"),
        Text(str(run_dir / entry["picture"]), style="dim", overflow="fold"),
    ]
    if pictures:
        lines.insert(1, _drawing(run_dir / entry["picture"], CELL_COLUMNS * 2, CELL_ROWS))
    return Group(*lines)


def _drawing(path, columns: int, rows: int) -> Text:
    from engine.halfblocks import half_block_text, load_rgb

    try:
        return half_block_text(load_rgb(path), columns, rows)
    except OSError as exc:
        return Text(f"(cannot draw {path}: {exc})", style="italic")
