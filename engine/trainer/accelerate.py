"""Opt-in speed settings applied to a built model: channels-last memory and torch.compile.

Both keep the module itself (and so its `state_dict` keys and checkpoints) unchanged:
channels-last converts the weights in place and each input through a forward pre-hook;
`nn.Module.compile` compiles the forward in place instead of wrapping the module.
"""

from __future__ import annotations

import torch
from torch import nn


def _inputs_channels_last(module: nn.Module, args: tuple) -> tuple | None:
    """Forward pre-hook: a 4-D image batch goes in as NHWC memory (same NCHW shape)."""
    if args and isinstance(args[0], torch.Tensor) and args[0].dim() == 4:
        return (args[0].contiguous(memory_format=torch.channels_last), *args[1:])
    return None


def accelerate(model: nn.Module, *, channels_last: bool, compile_model: bool) -> list[str]:
    """Apply the requested settings to `model` in place; returns what was done, for the log.

    Channels-last lets cuDNN (and oneDNN on CPU) pick their NHWC kernels, the fast ones
    for tensor cores under mixed precision. A training-free model is never compiled.
    """
    done = []
    if channels_last:
        model.to(memory_format=torch.channels_last)
        model.register_forward_pre_hook(_inputs_channels_last)
        done.append("channels-last memory format")
    if compile_model and getattr(model, "trainable", True):
        model.compile()
        done.append("torch.compile (the first batches compile, later ones are fast)")
    return done
