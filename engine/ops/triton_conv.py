"""Implicit-GEMM convolution in Triton: forward, grad-input and grad-weight kernels.

A convolution is a matrix product whose left matrix (the im2col columns) is never built:
each Triton program owns one BLOCK_M x BLOCK_N tile of the product and gathers the
window elements it needs straight from the input as it walks the reduction dimension.

* forward: rows = output pixels (n, oh, ow), columns = output channels of one group,
  reduction = (kernel tap, input channel): blocks of channels within a tap when a group has
  ≥ 16 channels (one index computation per tap and block); one flat (channel, tap) index
  otherwise, so a 3-channel first layer does not pad its reduction to 16 per tap.
* grad-input: the same product taken backwards, rows = input pixels. With a stride s an
  input row only meets the kernel rows i with (h + padding − i·d) divisible by s, and that
  depends only on h mod s: the grid runs one set of programs per stride phase, each looping
  over its own taps only (every s/gcd(s, d)-th tap; no work on taps that cannot contribute).
  Every kernel runs its reduction as one loop (tap and channel block folded together), so
  Triton can pipeline the loads across taps.
* grad-weight: rows = output channels, columns = (input channel, tap), reduction = every
  output pixel of the batch. The reduction is split over extra programs (split-K) so small
  layers still fill the GPU; the partial sums land in a float32 buffer summed by torch
  (deterministic, no atomics).

Every kernel takes its tensors' strides, so NCHW and channels-last inputs run without a
copy; accumulation is float32 (float64 for float64 inputs); float32 products use TF32
exactly when `torch.backends.cudnn.allow_tf32` lets torch's own convolution use it. Tile
sizes are autotuned per layer shape (`triton.autotune`). With TRITON_INTERPRET=1 the same
kernels run on CPU tensors through Triton's interpreter (one tile config, no autotuning),
which is how they are tested without a GPU. Triton is imported only when a kernel is first
needed.
"""

from __future__ import annotations

import functools
import math
import os
from types import SimpleNamespace

import torch

from engine.ops.im2col import ConvGeometry

SUPPORTED_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
MIN_DOT = 16  # tl.dot needs every tile side ≥ 16
WGRAD_TARGET_PROGRAMS = 4 * 132  # ~4 waves on an H100: split-K until the grid is this big
TUNE_ENV = "CNNLAB_TRITON_TUNE"  # "quick": autotune over two configs only (tests)


def interpreting() -> bool:
    """True when TRITON_INTERPRET=1 asks Triton to run kernels on the CPU (for tests)."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


@functools.cache
def triton_importable() -> bool:
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except ImportError:
        return False
    return True


def unusable_reason(x: torch.Tensor) -> str | None:
    """Why the Triton kernels cannot take `x` (None when they can)."""
    if not triton_importable():
        return "Triton is not installed"
    if x.device.type == "cuda" or x.device.type == "cpu" and interpreting():
        pass
    else:
        return f"the Triton kernels need a CUDA tensor (or TRITON_INTERPRET=1), got {x.device}"
    if x.dtype not in SUPPORTED_DTYPES:
        return f"the Triton kernels take float16/bfloat16/float32/float64, got {x.dtype}"
    return None


def _precision(dtype: torch.dtype) -> str:
    if dtype == torch.float32 and not interpreting() and torch.backends.cudnn.allow_tf32:
        return "tf32"
    return "ieee"


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def forward(x: torch.Tensor, weight: torch.Tensor, bias, geo: ConvGeometry) -> torch.Tensor:
    """Convolution of an unpadded (N, C, H, W) input; the output keeps its memory format."""
    k = _kernels(interpreting())
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    g = geo.groups
    out_h, out_w = geo.output_size(x, weight)
    out = _empty_like_layout(x, (n, o, out_h, out_w))
    top, _, left, _ = geo.padding
    pixels = n * out_h * out_w

    def grid(meta):
        return (_cdiv(pixels, meta["BLOCK_M"]), _cdiv(o // g, meta["BLOCK_N"]), g)

    k.fwd[grid](
        x, weight, bias if bias is not None else weight, out,
        n, h, w, out_h, out_w, cg, o // g, kh, kw,
        *geo.stride, top, left, *geo.dilation,
        *x.stride(), *weight.stride(), *out.stride(),
        HAS_BIAS=bias is not None, FLAT_K=cg < MIN_DOT,
        PRECISION=_precision(x.dtype), ACC_FP64=x.dtype == torch.float64,
    )  # fmt: skip
    return out


def backward(grad_out, x, weight, geo: ConvGeometry, need_x: bool, need_w: bool):
    """(grad_input, grad_weight), either skipped when not needed."""
    k = _kernels(interpreting())
    n, c, h, w = x.shape
    o, cg, kh, kw = weight.shape
    g, og = geo.groups, o // geo.groups
    _, _, out_h, out_w = grad_out.shape
    (sh, sw), (dh, dw) = geo.stride, geo.dilation
    top, _, left, _ = geo.padding
    precision, fp64 = _precision(x.dtype), x.dtype == torch.float64
    grad_x = grad_w = None
    if need_x:
        grad_x = _empty_like_layout(x, x.shape)
        phase_pixels = n * _cdiv(h, sh) * _cdiv(w, sw)

        def dgrad_grid(meta):
            return (_cdiv(phase_pixels, meta["BLOCK_M"]), _cdiv(cg, meta["BLOCK_N"]),
                    g * sh * sw)  # fmt: skip

        k.dgrad[dgrad_grid](
            grad_out, weight, grad_x,
            n, h, w, out_h, out_w, cg, og, kh, kw, sh, sw, top, left, dh, dw,
            sh // math.gcd(sh, dh), sw // math.gcd(sw, dw),
            *grad_out.stride(), *weight.stride(), *grad_x.stride(),
            PRECISION=precision, ACC_FP64=fp64,
        )  # fmt: skip
    if need_w:
        reduction = n * out_h * out_w
        tiles = _cdiv(og, 64) * _cdiv(cg * kh * kw, 64) * g
        split = max(1, min(WGRAD_TARGET_PROGRAMS // tiles, _cdiv(reduction, 256)))
        if interpreting():
            split = min(split, 2)  # still exercises the split, without a slow interpreter
        per_split = _cdiv(reduction, split)
        partial = torch.empty((split, o, cg * kh * kw), dtype=_acc_dtype(x.dtype),
                              device=x.device)  # fmt: skip

        def wgrad_grid(meta):
            return (_cdiv(og, meta["BLOCK_M"]), _cdiv(cg * kh * kw, meta["BLOCK_N"]), g * split)

        k.wgrad[wgrad_grid](
            grad_out, x, partial,
            n, h, w, out_h, out_w, cg, og, kh, kw, sh, sw, top, left, dh, dw,
            split, per_split,
            *grad_out.stride(), *x.stride(), *partial.stride(),
            PRECISION=precision, ACC_FP64=fp64,
        )  # fmt: skip
        grad_w = partial.sum(0).view(o, cg, kh, kw).to(weight.dtype)
    return grad_x, grad_w


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _empty_like_layout(x: torch.Tensor, shape) -> torch.Tensor:
    nhwc = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    layout = torch.channels_last if nhwc else torch.contiguous_format
    return torch.empty(shape, dtype=x.dtype, device=x.device, memory_format=layout)


def _configs(triton, kind: str) -> list:
    """Tile shapes to autotune over (the first is the one the interpreter runs)."""
    cfg = triton.Config
    if kind == "wgrad":
        shapes = [(32, 32, 32, 4, 2), (64, 64, 32, 4, 3), (64, 128, 32, 4, 3),
                  (128, 64, 32, 4, 3), (128, 128, 32, 8, 3), (64, 64, 64, 4, 3)]  # fmt: skip
    else:
        shapes = [(32, 32, 16, 4, 2), (64, 64, 32, 4, 3), (128, 64, 32, 4, 3),
                  (64, 128, 32, 4, 3), (128, 128, 32, 8, 3), (128, 128, 64, 8, 3),
                  (256, 64, 32, 8, 3)]  # fmt: skip
    return [
        cfg({"BLOCK_M": m, "BLOCK_N": n, "BLOCK_K": k}, num_warps=warps, num_stages=stages)
        for m, n, k, warps, stages in shapes
    ]


def _prune(configs, named_args, **kwargs):
    """The configs to autotune over: one under the interpreter; small tiles only for
    float64 (registers); with CNNLAB_TRITON_TUNE=quick (tests) the smallest and one large
    tile, which still covers both masking regimes at a fraction of the compile time."""
    if interpreting():
        return configs[:1]
    if kwargs.get("ACC_FP64"):
        small = [c for c in configs if c.kwargs["BLOCK_M"] * c.kwargs["BLOCK_N"] <= 64 * 64]
        configs = [c for c in small if c.kwargs["BLOCK_K"] <= 32] or configs[:1]
    if os.environ.get(TUNE_ENV) == "quick":
        return [configs[0], configs[-1]] if len(configs) > 1 else configs
    return configs


@functools.cache
def _kernels(interpret: bool) -> SimpleNamespace:
    """The three kernels, jit-compiled for the current TRITON_INTERPRET setting."""
    import triton
    import triton.language as tl

    del interpret  # the cache key: triton.jit reads TRITON_INTERPRET when it decorates

    def tune(kind: str, key: list[str]):
        return triton.autotune(
            configs=_configs(triton, kind), key=key, prune_configs_by={"early_config_prune": _prune}
        )

    shape_key = ["N", "H", "W", "OH", "OW", "CG", "OG", "KH", "KW", "SH", "SW", "DH", "DW"]

    @tune("fwd", shape_key)
    @triton.jit
    def conv_fwd(
        x_ptr, w_ptr, bias_ptr, y_ptr,
        N, H, W, OH, OW, CG, OG, KH, KW, SH, SW, PH, PW, DH, DW,
        sxn, sxc, sxh, sxw, swo, swc, swh, sww, syn, syc, syh, syw,
        HAS_BIAS: tl.constexpr, FLAT_K: tl.constexpr, PRECISION: tl.constexpr,
        ACC_FP64: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    ):  # fmt: skip
        pid_m, pid_n, grp = tl.program_id(0), tl.program_id(1), tl.program_id(2)
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
        mask_m, mask_n = offs_m < N * OH * OW, offs_n < OG
        ow = offs_m % OW
        oh = (offs_m // OW) % OH
        nn = (offs_m // (OW * OH)).to(tl.int64)
        chan0 = grp * CG
        w_rows = (grp * OG + offs_n).to(tl.int64) * swo
        acc = tl.full((BLOCK_M, BLOCK_N), 0, tl.float64 if ACC_FP64 else tl.float32)
        if FLAT_K:  # one reduction index over (channel, tap)
            taps = KH * KW
            for k0 in range(0, CG * taps, BLOCK_K):
                offs_k = k0 + tl.arange(0, BLOCK_K)
                mask_k = offs_k < CG * taps
                cc, tap = offs_k // taps, offs_k % taps
                ki, kj = tap // KW, tap % KW
                ih = oh[:, None] * SH - PH + ki[None, :] * DH
                iw = ow[:, None] * SW - PW + kj[None, :] * DW
                ok = mask_m[:, None] & mask_k[None, :] & (ih >= 0) & (ih < H)
                ok = ok & (iw >= 0) & (iw < W)
                a_ptr = (x_ptr + nn[:, None] * sxn + (chan0 + cc[None, :]).to(tl.int64) * sxc
                         + ih.to(tl.int64) * sxh + iw.to(tl.int64) * sxw)  # fmt: skip
                a = tl.load(a_ptr, mask=ok, other=0.0)
                b_ptr = (w_ptr + w_rows[None, :] + cc[:, None] * swc + ki[:, None] * swh
                         + kj[:, None] * sww)  # fmt: skip
                b = tl.load(b_ptr, mask=mask_k[:, None] & mask_n[None, :], other=0.0)
                acc = tl.dot(a, b, acc, input_precision=PRECISION)
        else:  # one pipelined loop over (tap, channel block)
            c_blocks = (CG + BLOCK_K - 1) // BLOCK_K
            for step in range(0, KH * KW * c_blocks):
                tap = step // c_blocks
                ki, kj = tap // KW, tap % KW
                ih = oh * SH - PH + ki * DH
                iw = ow * SW - PW + kj * DW
                ok_m = mask_m & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
                pix = nn * sxn + ih.to(tl.int64) * sxh + iw.to(tl.int64) * sxw
                cc = (step % c_blocks) * BLOCK_K + tl.arange(0, BLOCK_K)
                mask_k = cc < CG
                a_ptr = x_ptr + pix[:, None] + (chan0 + cc[None, :]).to(tl.int64) * sxc
                a = tl.load(a_ptr, mask=ok_m[:, None] & mask_k[None, :], other=0.0)
                b_ptr = w_ptr + w_rows[None, :] + cc[:, None] * swc + ki * swh + kj * sww
                b = tl.load(b_ptr, mask=mask_k[:, None] & mask_n[None, :], other=0.0)
                acc = tl.dot(a, b, acc, input_precision=PRECISION)
        if HAS_BIAS:
            bias = tl.load(bias_ptr + grp * OG + offs_n, mask=mask_n, other=0.0)
            acc = acc + bias[None, :].to(acc.dtype)
        y = (y_ptr + nn[:, None] * syn + (grp * OG + offs_n[None, :]).to(tl.int64) * syc
             + oh[:, None].to(tl.int64) * syh + ow[:, None].to(tl.int64) * syw)  # fmt: skip
        tl.store(y, acc.to(y_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])

    @tune("dgrad", shape_key)
    @triton.jit
    def conv_dgrad(
        dy_ptr, w_ptr, dx_ptr,
        N, H, W, OH, OW, CG, OG, KH, KW, SH, SW, PH, PW, DH, DW, STEP_H, STEP_W,
        syn, syc, syh, syw, swo, swc, swh, sww, sxn, sxc, sxh, sxw,
        PRECISION: tl.constexpr, ACC_FP64: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    ):  # fmt: skip
        pid_m, pid_n, pid_z = tl.program_id(0), tl.program_id(1), tl.program_id(2)
        grp = pid_z // (SH * SW)
        phase = pid_z % (SH * SW)
        rh, rw = phase // SW, phase % SW
        # The input pixels of this stride phase: h = rh + SH*th, w = rw + SW*tw.
        th_n, tw_n = (H - rh + SH - 1) // SH, (W - rw + SW - 1) // SW
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # input channel within the group
        mask_m, mask_n = offs_m < N * th_n * tw_n, offs_n < CG
        tw = offs_m % tw_n
        th = (offs_m // tw_n) % th_n
        nn = (offs_m // (tw_n * th_n)).to(tl.int64)
        hh, ww = rh + SH * th, rw + SW * tw
        w_cols = offs_n.to(tl.int64) * swc  # weight dim 1 is the channel within the group
        acc = tl.full((BLOCK_M, BLOCK_N), 0, tl.float64 if ACC_FP64 else tl.float32)
        # The taps that reach this phase: ki ≡ ki0 (mod STEP_H), STEP_H = SH / gcd(SH, DH),
        # ki0 the first ki whose (rh + PH - ki*DH) divides by SH (same for kj).
        ki0, kj0 = KH + STEP_H, KW + STEP_W
        for t in range(0, STEP_H):
            if ((rh + PH - t * DH) % SH == 0) & (ki0 == KH + STEP_H):
                ki0 = t
        for t in range(0, STEP_W):
            if ((rw + PW - t * DW) % SW == 0) & (kj0 == KW + STEP_W):
                kj0 = t
        taps_h = tl.maximum((KH - ki0 + STEP_H - 1) // STEP_H, 0)
        taps_w = tl.maximum((KW - kj0 + STEP_W - 1) // STEP_W, 0)
        o_blocks = (OG + BLOCK_K - 1) // BLOCK_K
        for step in range(0, taps_h * taps_w * o_blocks):  # one pipelined loop
            tap = step // o_blocks
            ki = ki0 + STEP_H * (tap // taps_w)
            kj = kj0 + STEP_W * (tap % taps_w)
            oh = (hh + PH - ki * DH) // SH  # exact: this tap reaches this phase
            ow = (ww + PW - kj * DW) // SW
            ok_m = mask_m & (oh >= 0) & (oh < OH) & (ow >= 0) & (ow < OW)
            pix = nn * syn + oh.to(tl.int64) * syh + ow.to(tl.int64) * syw
            oo = (step % o_blocks) * BLOCK_K + tl.arange(0, BLOCK_K)
            mask_k = oo < OG
            ch = (grp * OG + oo).to(tl.int64)
            a = tl.load(dy_ptr + pix[:, None] + ch[None, :] * syc,
                        mask=ok_m[:, None] & mask_k[None, :], other=0.0)  # fmt: skip
            b_ptr = w_ptr + ch[:, None] * swo + w_cols[None, :] + ki * swh + kj * sww
            b = tl.load(b_ptr, mask=mask_k[:, None] & mask_n[None, :], other=0.0)
            acc = tl.dot(a, b, acc, input_precision=PRECISION)
        dx = (dx_ptr + nn[:, None] * sxn + (grp * CG + offs_n[None, :]).to(tl.int64) * sxc
              + hh[:, None].to(tl.int64) * sxh + ww[:, None].to(tl.int64) * sxw)  # fmt: skip
        tl.store(dx, acc.to(dx_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])

    @tune("wgrad", [*shape_key, "SPLIT"])
    @triton.jit
    def conv_wgrad(
        dy_ptr, x_ptr, part_ptr,
        N, H, W, OH, OW, CG, OG, KH, KW, SH, SW, PH, PW, DH, DW, SPLIT, PER_SPLIT,
        syn, syc, syh, syw, sxn, sxc, sxh, sxw, sps, spo, spk,
        PRECISION: tl.constexpr, ACC_FP64: tl.constexpr,
        BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
    ):  # fmt: skip
        pid_m, pid_n, pid_z = tl.program_id(0), tl.program_id(1), tl.program_id(2)
        grp, part = pid_z // SPLIT, pid_z % SPLIT
        taps = KH * KW
        offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)  # output channel within the group
        offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)  # (input channel, tap), weight order
        mask_m, mask_n = offs_m < OG, offs_n < CG * taps
        cc, tap = offs_n // taps, offs_n % taps
        ki, kj = tap // KW, tap % KW
        out_ch = (grp * OG + offs_m).to(tl.int64) * syc
        in_ch = (grp * CG + cc).to(tl.int64) * sxc
        total = N * OH * OW
        start = part * PER_SPLIT
        stop = tl.minimum(start + PER_SPLIT, total)
        acc = tl.full((BLOCK_M, BLOCK_N), 0, tl.float64 if ACC_FP64 else tl.float32)
        for p0 in range(start, stop, BLOCK_K):
            offs_k = p0 + tl.arange(0, BLOCK_K)  # output pixels (n, oh, ow)
            mask_k = offs_k < stop
            ow = offs_k % OW
            oh = (offs_k // OW) % OH
            nn = (offs_k // (OW * OH)).to(tl.int64)
            a_ptr = (dy_ptr + out_ch[:, None] + nn[None, :] * syn + oh[None, :].to(tl.int64) * syh
                     + ow[None, :].to(tl.int64) * syw)  # fmt: skip
            a = tl.load(a_ptr, mask=mask_m[:, None] & mask_k[None, :], other=0.0)
            ih = oh[:, None] * SH - PH + ki[None, :] * DH
            iw = ow[:, None] * SW - PW + kj[None, :] * DW
            ok = mask_k[:, None] & mask_n[None, :] & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            b_ptr = (x_ptr + nn[:, None] * sxn + in_ch[None, :] + ih.to(tl.int64) * sxh
                     + iw.to(tl.int64) * sxw)  # fmt: skip
            b = tl.load(b_ptr, mask=ok, other=0.0)
            acc = tl.dot(a, b, acc, input_precision=PRECISION)
        dst = (part_ptr + part * sps + (grp * OG + offs_m[:, None]).to(tl.int64) * spo
               + offs_n[None, :].to(tl.int64) * spk)  # fmt: skip
        tl.store(dst, acc.to(part_ptr.dtype.element_ty), mask=mask_m[:, None] & mask_n[None, :])

    return SimpleNamespace(fwd=conv_fwd, dgrad=conv_dgrad, wgrad=conv_wgrad)
