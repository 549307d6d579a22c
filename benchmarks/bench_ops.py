"""Forward+backward of cnnlab's hand-written conv/pooling against torch's native kernels.

    .venv/bin/python benchmarks/bench_ops.py            # the issue's shapes, full size
    .venv/bin/python benchmarks/bench_ops.py --quick    # N divided by 8, for iteration
    .venv/bin/python benchmarks/bench_ops.py --shapes c2,c5 --repeats 9 --threads 2
    python benchmarks/bench_ops.py --device cuda           # Triton kernels vs cuDNN, float32
    python benchmarks/bench_ops.py --device cuda --tf32    # both sides TF32
    python benchmarks/bench_ops.py --device cuda --dtype bfloat16 --channels-last

From a git worktree put `PYTHONPATH=.` in front: the editable install maps `engine` to the
main checkout, so the script would otherwise measure that one's code.

Each row times equal inputs through `engine.ops` and `torch.nn.functional` (each side on its
own copy of the leaf tensors, so each step frees its own previous gradients; the old
shared leaves with `--shared-leaves`), with the same thread count, interleaved (ours,
torch, ours, torch, …) after a warm-up round, and reports the medians and their ratio
(ours / torch: lower is better, 1.0 is parity; with one thread also the ratio of the
calls' CPU times, which a busy machine's scheduler cannot skew), plus
the peak memory one call needs on top of what is allocated before it (the inputs): on a CPU
the process's resident-set high-water mark (Linux: reset through /proc/self/clear_refs
before the call, after freeing cnnlab's reused scratch so that it is counted), on CUDA
torch's allocator peak (`max_memory_allocated`). A last section times the lab's loop
`corr2d_multi_in_out` on one small batch against `engine.ops.conv2d` (CPU), or the `conv`
model's training steps with the hand-written convolution against `nn.Conv2d` (CUDA, or
`--model` on a CPU).

On CUDA each call ends with a device synchronise, so the times are the kernels' and not the
launch queue's; cuDNN autotuning is on for torch's side and Triton autotunes ours in the
warm-up; TF32 is off for both sides unless `--tf32` (then both use it). `--kernel` forces
the im2col or Triton convolution (default: what `engine.ops` picks, Triton on CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from _harness import format_table, interleaved, machine_header, median, set_threads

from engine.ops import _chunks, select
from engine.ops.conv import conv2d
from engine.ops.pool import avg_pool2d, max_pool2d
from engine.ops.reference import corr2d_multi_in_out
from engine.ops.select import conv_kernel


@dataclass(frozen=True)
class ConvCase:
    """One convolution shape: input (N, C, H, W) → `out_channels`, plus conv arguments."""

    key: str
    input_shape: tuple[int, int, int, int]
    out_channels: int
    kernel: int = 3
    options: dict = field(default_factory=dict)

    def label(self, divisor: int = 1) -> str:
        n, c, h, w = _scaled(self.input_shape, divisor)
        extra = "".join(f" {k[0]}{v}" for k, v in self.options.items())
        return f"({n},{c},{h},{w})→{self.out_channels} k{self.kernel}{extra}"


@dataclass(frozen=True)
class PoolCase:
    key: str
    input_shape: tuple[int, int, int, int]
    mode: str  # "max" | "avg"
    kernel: int = 2
    options: dict = field(default_factory=dict)

    def label(self, divisor: int = 1) -> str:
        n, c, h, w = _scaled(self.input_shape, divisor)
        extra = "".join(f" {k[0]}{v}" for k, v in self.options.items())
        return f"{self.mode} ({n},{c},{h},{w}) k{self.kernel}{extra}"


CONV_CASES = (
    ConvCase("c1", (512, 3, 32, 32), 32),
    ConvCase("c2", (512, 32, 30, 30), 64),
    ConvCase("c3", (512, 64, 28, 28), 128),
    ConvCase("c4", (512, 32, 30, 30), 64, options={"dilation": 2}),
    ConvCase("c5", (512, 64, 26, 26), 128, options={"dilation": 5}),
    ConvCase("c6", (128, 64, 32, 32), 64, options={"padding": 1}),
    ConvCase("c7", (128, 128, 16, 16), 256, options={"stride": 2, "padding": 1}),
    ConvCase("c8", (64, 3, 224, 224), 64, kernel=11, options={"stride": 4, "padding": 2}),
)

POOL_CASES = (
    PoolCase("p1", (512, 32, 30, 30), "max"),
    PoolCase("p2", (512, 64, 28, 28), "avg"),
    PoolCase("p3", (128, 64, 55, 55), "max", kernel=3, options={"stride": 2}),
    PoolCase("p4", (128, 64, 32, 32), "avg", kernel=3, options={"stride": 1, "padding": 1}),
)


def _scaled(shape: tuple[int, ...], divisor: int) -> tuple[int, ...]:
    return (max(1, shape[0] // divisor), *shape[1:])


def _train_step(op: Callable[..., torch.Tensor], args: list[torch.Tensor], grad, **kwargs):
    """One forward+backward through `op`; leaves' gradients are dropped before each call."""
    sync = torch.cuda.synchronize if grad.device.type == "cuda" else (lambda: None)

    def step() -> None:
        for t in args:
            if t is not None:
                t.grad = None
        op(*args, **kwargs).backward(grad)
        sync()

    return step


DEVICE = torch.device("cpu")  # set once by main() from --device
DTYPE = torch.float32  # and --dtype
SHARED_LEAVES = False  # and --shared-leaves


def _leaves(shapes, generator, channels_last: bool) -> list[torch.Tensor | None]:
    out = []
    for s in shapes:
        if s is None:
            out.append(None)
            continue
        t = torch.randn(s, generator=generator).to(DEVICE, DTYPE)
        if channels_last and t.dim() == 4 and s is shapes[0]:
            t = t.contiguous(memory_format=torch.channels_last)
        out.append(t.requires_grad_())
    return out


def _own_leaves(leaves: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """Equal copies of the leaves for the other side, so that each side's step frees its
    own previous gradients, as a training loop does. On shared leaves each step freed the
    other side's gradients, and what that costs depends on how the other side allocated
    them (c7, one thread: 4.7 ms per step for torch's, 0.01 ms for ours), which has
    nothing to do with either convolution."""
    if SHARED_LEAVES:
        return leaves
    return [None if t is None else t.detach().clone().requires_grad_() for t in leaves]


def conv_contenders(case: ConvCase, divisor: int, channels_last: bool):
    generator = torch.Generator().manual_seed(0)
    n, c, h, w = _scaled(case.input_shape, divisor)
    weight = (case.out_channels, c, case.kernel, case.kernel)
    args = _leaves([(n, c, h, w), weight, (case.out_channels,)], generator, channels_last)
    with torch.no_grad():
        grad = torch.randn_like(F.conv2d(*args, **case.options))
    return {
        "ours": _train_step(conv2d, args, grad, **case.options),
        "torch": _train_step(F.conv2d, _own_leaves(args), grad, **case.options),
    }


def pool_contenders(case: PoolCase, divisor: int, channels_last: bool):
    generator = torch.Generator().manual_seed(0)
    (x,) = _leaves([_scaled(case.input_shape, divisor)], generator, channels_last)
    theirs = F.max_pool2d if case.mode == "max" else F.avg_pool2d
    ours = max_pool2d if case.mode == "max" else avg_pool2d
    with torch.no_grad():
        grad = torch.randn_like(theirs(x, case.kernel, **case.options))
    return {
        "ours": _train_step(ours, [x], grad, kernel_size=case.kernel, **case.options),
        "torch": _train_step(
            theirs, _own_leaves([x]), grad, kernel_size=case.kernel, **case.options
        ),
    }


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as handle:
        text = handle.read()
    return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1)) * 1024


def _release_host_memory() -> None:
    """Free cnnlab's kept scratch and hand freed heap pages back (glibc), so a call's own
    allocations show up in the resident set instead of reusing pages that are already in."""
    _chunks.release_workspace()
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def peak_bytes(step: Callable[[], None]) -> int | None:
    """Memory one call of `step` needs above what is allocated before it (None: no way to
    measure on this system)."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)
        torch.cuda.reset_peak_memory_stats(DEVICE)
        before = torch.cuda.memory_allocated(DEVICE)
        step()
        return torch.cuda.max_memory_allocated(DEVICE) - before
    _release_host_memory()
    try:
        with open("/proc/self/clear_refs", "w") as handle:  # "5": reset the peak RSS
            handle.write("5")
        before = _status_bytes("VmRSS")
    except (OSError, AttributeError):
        return None
    step()
    return max(0, _status_bytes("VmHWM") - before)


def _megabytes(value: int | None) -> str:
    return "n/a" if value is None else f"{value / 2**20:.0f}"


def interleaved_clocks(contenders, *, repeats: int, warmup: int = 1):
    """Like `_harness.interleaved`, timing each call by the wall clock and by the calling
    thread's CPU time (`time.thread_time`): with one torch thread the CPU time leaves out
    the moments a busy machine's scheduler gave the core to someone else."""
    for _ in range(warmup):
        for fn in contenders.values():
            fn()
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            start, start_cpu = time.perf_counter(), time.thread_time()
            fn()
            cpu[name].append(time.thread_time() - start_cpu)
            wall[name].append(time.perf_counter() - start)
    return wall, cpu


def compare(cases, build, args) -> tuple[list[list[str]], float]:
    """Time every case; return printable rows and the worst (wall-clock) ratio."""
    rows, worst = [], 0.0
    one_thread = DEVICE.type == "cpu" and torch.get_num_threads() == 1
    for case in cases:
        contenders = build(case, args.divisor, args.channels_last)
        times, cpu = interleaved_clocks(contenders, repeats=args.repeats, warmup=1)
        ours, theirs = median(times["ours"]), median(times["torch"])
        worst = max(worst, ours / theirs)
        memory = ["-", "-"]
        if args.memory:
            memory = [_megabytes(peak_bytes(contenders[name])) for name in ("ours", "torch")]
        cpu_ratio = median(cpu["ours"]) / median(cpu["torch"]) if one_thread else None
        rows.append(
            [
                case.key,
                case.label(args.divisor),
                f"{ours * 1e3:.1f}",
                f"{theirs * 1e3:.1f}",
                *memory,
                "-" if cpu_ratio is None else f"{cpu_ratio:.2f}",
                f"{ours / theirs:.2f}",
            ]
        )
        print(format_table(HEADERS, rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return rows, worst


HEADERS = ["id", "shape", "ours ms", "torch ms", "ours MB", "torch MB", "cpu ratio", "ratio"]


def loop_speedup(channels_last: bool) -> str:
    """The lab's per-pixel loops vs the vectorised op on one small batch (same numbers)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, 32, 32, generator=generator)
    k = torch.randn(16, 3, 3, 3, generator=generator)
    start = time.perf_counter()
    loops = corr2d_multi_in_out(x, k)
    loop_seconds = time.perf_counter() - start
    fast = conv2d(x, k)
    torch.testing.assert_close(fast, loops, rtol=1e-4, atol=1e-4)
    times = interleaved({"conv2d": lambda: conv2d(x, k)}, repeats=20, warmup=2)
    fast_seconds = median(times["conv2d"])
    return (
        f"lab loop corr2d_multi_in_out (8,3,32,32)→16 k3: {loop_seconds * 1e3:.0f} ms; "
        f"engine.ops.conv2d: {fast_seconds * 1e3:.2f} ms; "
        f"{loop_seconds / fast_seconds:,.0f}x faster (same outputs)"
    )


def model_throughput(args: argparse.Namespace) -> str:
    """Training img/s of the lab's `conv` model (random 32 px images, Adam, batch 512 ÷
    --quick's 8): nn.Conv2d against the hand-written convolution, interleaved steps."""
    from engine.models import create_model

    batch = 512 // args.divisor
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(batch, 3, 32, 32, generator=generator).to(DEVICE)
    labels = torch.randint(0, 10, (batch,), generator=generator).to(DEVICE)
    settings = [("float32", False)]
    if DEVICE.type == "cuda":
        settings.append(("bf16 autocast + channels-last", True))
    sync = torch.cuda.synchronize if DEVICE.type == "cuda" else (lambda: None)
    rows = []
    for label, fast in settings:
        x = images.contiguous(memory_format=torch.channels_last) if fast else images
        steps = {}
        for impl in ("torch", "hand"):
            torch.manual_seed(0)
            model = create_model("conv", conv_impl=impl).to(DEVICE)
            if fast:
                model = model.to(memory_format=torch.channels_last)
            optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)

            def step(model=model, optimiser=optimiser, x=x, fast=fast) -> None:
                with torch.autocast(DEVICE.type, dtype=torch.bfloat16, enabled=fast):
                    loss = F.cross_entropy(model(x), labels)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                sync()

            steps[impl] = step
        times = interleaved(steps, repeats=args.model_steps, warmup=2)
        nn_rate, hand_rate = (batch / median(times[name]) for name in ("torch", "hand"))
        rows.append([label, f"{nn_rate:,.0f}", f"{hand_rate:,.0f}", f"{nn_rate / hand_rate:.2f}"])
    headers = ["model conv, training step", "nn.Conv2d img/s", "hand img/s", "time ratio"]
    return (
        f"lab model `conv` (3→32→64→128, k3), batch {batch}, median of {args.model_steps} "
        "interleaved steps\n" + format_table(headers, rows)
    )


def _select(cases, wanted: str | None):
    if not wanted:
        return list(cases)
    keys = {k.strip() for k in wanted.split(",") if k.strip()}
    return [c for c in cases if c.key in keys]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="divide every batch size by 8")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats per side (≥ 1)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for both")
    parser.add_argument(
        "--shapes",
        default=None,
        help="comma-separated case ids to run (c1..c8 conv, p1..p4 pool); default all",
    )
    parser.add_argument("--channels-last", action="store_true", help="NHWC inputs for both")
    parser.add_argument("--no-loop", action="store_true", help="skip the lab-loop comparison")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory columns")
    parser.add_argument(
        "--shared-leaves",
        action="store_true",
        help="both sides on the same leaf tensors (the method before issue 18)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (both sides run there)")
    parser.add_argument("--tf32", action="store_true", help="CUDA: TF32 maths for both sides")
    parser.add_argument(
        "--dtype", choices=("float32", "bfloat16"), default="float32", help="CUDA: data type"
    )
    parser.add_argument(
        "--kernel",
        choices=select.KERNELS,
        default="auto",
        help="convolution kernel: auto (Triton on CUDA, im2col elsewhere), im2col or triton",
    )
    parser.add_argument(
        "--model", action="store_true", help="also time the conv model's training steps (CPU)"
    )
    parser.add_argument("--no-model", action="store_true", help="skip them (CUDA)")
    parser.add_argument("--model-steps", type=int, default=20, help="timed steps per side")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    if args.dtype != "float32" and not args.device.startswith("cuda"):
        parser.error("--dtype bfloat16 is for --device cuda (CPU runs compare float32)")
    if args.repeats < 1 or args.model_steps < 1:
        parser.error(f"--repeats/--model-steps must be ≥ 1, got {args.repeats}/{args.model_steps}")
    known = {c.key for c in (*CONV_CASES, *POOL_CASES)}
    if args.shapes:
        unknown = {k.strip() for k in args.shapes.split(",")} - known
        if unknown:
            parser.error(f"unknown shape id(s) {sorted(unknown)}; known: {sorted(known)}")
    args.divisor = 8 if args.quick else 1
    args.memory = not args.no_memory
    return args


def _use_device(args: argparse.Namespace) -> str:
    """Point every contender at --device and --dtype; on CUDA, cuDNN autotunes and TF32 is
    as asked. Returns the lines naming device and precision."""
    global DEVICE, DTYPE, SHARED_LEAVES
    DEVICE, DTYPE = torch.device(args.device), getattr(torch, args.dtype)
    SHARED_LEAVES = args.shared_leaves
    if DEVICE.type != "cuda":
        return "float32"
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    props = torch.cuda.get_device_properties(DEVICE)
    precision = args.dtype if args.dtype != "float32" else (
        "float32, TF32 on" if args.tf32 else "float32, TF32 off"
    )  # fmt: skip
    return (
        f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count}"
        f" SMs; CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}\n{precision}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    precision = _use_device(args)
    print(machine_header("cnnlab bench_ops: forward+backward, median of interleaved repeats"))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    print(f"load average {load} (1, 5, 15 min) at the start")
    layout = "channels-last" if args.channels_last else "NCHW"
    kernel = select.kernel_for(torch.empty(0, device=DEVICE, dtype=DTYPE)) if (
        args.kernel == "auto") else args.kernel  # fmt: skip
    leaves = "shared leaves" if args.shared_leaves else "own leaves per side"
    print(f"repeats {args.repeats} after 1 warm-up, batch ÷{args.divisor}, {layout}, "
          f"conv kernel {kernel}, {precision}, {leaves}")  # fmt: skip
    with conv_kernel(args.kernel):
        for title, cases, build in (
            ("convolution (engine.ops.conv2d vs F.conv2d)", CONV_CASES, conv_contenders),
            ("pooling (engine.ops vs F.max_pool2d / F.avg_pool2d)", POOL_CASES, pool_contenders),
        ):
            chosen = _select(cases, args.shapes)
            if not chosen:
                continue
            rows, worst = compare(chosen, build, args)
            print(f"\n{title}")
            print(format_table(HEADERS, rows))
            print(f"worst ratio: {worst:.2f}")
        if not args.no_loop and DEVICE.type == "cpu":
            print()
            print(loop_speedup(args.channels_last))
        if args.model or (DEVICE.type == "cuda" and not args.no_model):
            print()
            print(model_throughput(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
