"""torchvision's ImageNet weights, read from the local torch hub cache.

Only architectures that cnnlab's zoo builds with exactly torchvision's layers are offered,
each with the model options that make the shapes agree and a map from torchvision's key
names to cnnlab's. Weights are read from `torch.hub.get_dir()/checkpoints/` (where
`torch.hub.load_state_dict_from_url` keeps them); a missing file is downloaded only when the
person asked for it (`download=True`, the CLI's `--download-weights`), with progress and
torchvision's hash check — never silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.transfer.report import TransferError

PREFIX = "torchvision:"


def _alexnet_key(key: str) -> str:
    return key  # cnnlab's AlexNet keeps torchvision's module layout and names


_RESNET_LAYER = re.compile(r"^layer(\d)\.(\d+)\.(.*)$")
_RESNET_BLOCK = {
    "conv1.": "left.0.0.",
    "bn1.": "left.0.1.",
    "conv2.": "left.1.",
    "bn2.": "left.2.",
    "downsample.0.": "shortcut.0.",
    "downsample.1.": "shortcut.1.",
}


def _resnet_key(key: str) -> str:
    if key.startswith("conv1."):
        return "stem.0." + key.removeprefix("conv1.")
    if key.startswith("bn1."):
        return "stem.1." + key.removeprefix("bn1.")
    match = _RESNET_LAYER.match(key)
    if match:
        stage, block, rest = match.groups()
        for old, new in _RESNET_BLOCK.items():
            if rest.startswith(old):
                return f"layers.{int(stage) - 1}.{block}.{new}{rest.removeprefix(old)}"
    return key  # fc.weight, fc.bias


@dataclass(frozen=True)
class HubModel:
    """A torchvision architecture cnnlab can build: its model, options and key map."""

    name: str
    model: str
    options: dict[str, Any]
    rename: Callable[[str], str]
    note: str = ""


HUB_MODELS: dict[str, HubModel] = {
    "alexnet": HubModel(
        "alexnet",
        "alexnet",
        {"width": 1.0, "stem_kernel": 11, "stem_stride": 4, "pool_size": 6},
        _alexnet_key,
        "full-width AlexNet with the original 11×11/4 stem (images of 63 px or more)",
    ),
    "resnet18": HubModel(
        "resnet18",
        "resnet18",
        {"base_width": 64, "stem": "imagenet"},
        _resnet_key,
        "ResNet-18 with torchvision's ImageNet stem (7×7/2 conv, 3×3/2 max pool)",
    ),
}


def hub_model(name: str) -> HubModel:
    """The `HubModel` for a torchvision name; `TransferError` naming the offered ones."""
    try:
        return HUB_MODELS[name]
    except KeyError:
        offered = ", ".join(PREFIX + n for n in HUB_MODELS)
        raise TransferError(f"no torchvision weights for {name!r}; offered: {offered}") from None


def weights_url(name: str) -> str:
    """The download address of torchvision's default ImageNet weights for `name`."""
    from torchvision.models import get_model_weights

    return get_model_weights(hub_model(name).name).DEFAULT.url


def cache_file(name: str) -> Path:
    """Where torch hub keeps (or would keep) the weights file for `name`."""
    return Path(torch.hub.get_dir()) / "checkpoints" / weights_url(name).rsplit("/", 1)[-1]


def find_weights(name: str) -> Path:
    """The cached weights file; `TransferError` saying how to get it when it is missing."""
    path = cache_file(name)
    if not path.is_file():
        raise TransferError(
            f"torchvision weights for {name} are not in the torch hub cache ({path}); "
            "download them with `cnnlab train … --download-weights` (asks nothing else, "
            f"fetches {weights_url(name)}) or copy the file there"
        )
    return path


def missing_weights(init_from: str) -> str | None:
    """The torchvision name whose weights `init_from` needs and this machine's hub cache
    lacks (None: not a torchvision source, or they are there; an unknown name is for
    validation to explain)."""
    spec = (init_from or "").strip()
    if not spec.startswith(PREFIX):
        return None
    name = spec.removeprefix(PREFIX)
    try:
        return None if cache_file(name).is_file() else name
    except TransferError:
        return None


def download_weights(name: str, progress: bool = True) -> Path:
    """Download `name`'s weights into the hub cache (hash-checked); only call on consent."""
    url = weights_url(name)
    try:
        torch.hub.load_state_dict_from_url(url, progress=progress, check_hash=True)
    except Exception as exc:  # network errors come in many types
        raise TransferError(f"could not download {url}: {exc}") from exc
    return find_weights(name)


def load_hub_state(name: str, download: bool = False) -> tuple[dict[str, torch.Tensor], Path]:
    """torchvision's state dict for `name`, renamed to cnnlab's keys, and its file."""
    spec = hub_model(name)
    try:
        path = find_weights(name)
    except TransferError:
        if not download:
            raise
        path = download_weights(name)
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise TransferError(f"{path} is not a readable weights file ({exc})") from exc
    if not isinstance(raw, dict):
        raise TransferError(f"{path} holds no state dict")
    return {spec.rename(k): v for k, v in raw.items()}, path
