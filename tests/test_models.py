"""Model zoo tests, driven by the registry (timm style): every registered model is checked."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import ModelError
from engine.models import (
    OptionSpec,
    count_parameters,
    create_model,
    get_model_info,
    list_models,
    parameter_count,
    resolve_options,
)
from engine.models.dcp import atmospheric_light, dark_channel

ALL = [info.name for info in list_models()]
CLASSIFIERS = [info.name for info in list_models("classify")]
DEHAZERS = [info.name for info in list_models("dehaze")]
CONV_MODELS = [info.name for info in list_models() if "conv_impl" in info.options]
NUM_CLASSES = 3
BATCH = 2
# Keeps the suite fast on 2 CPU cores; the full-size defaults are counted on the meta device.
SMALL = {"alexnet": {"width": 0.25}, "resnet18": {"base_width": 16}, "plain18": {"base_width": 16}}
SIZES = (32, 40)


def build(name: str, image_size: int = 32, **options) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(
        name, num_classes=NUM_CLASSES, image_size=image_size, **{**SMALL.get(name, {}), **options}
    )


def sample_input(image_size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return torch.rand(BATCH, 3, image_size, image_size, generator=generator)


def test_registry_has_every_model_of_the_issue():
    assert set(CLASSIFIERS) == {
        "my_conv", "conv", "dilated", "residual", "resnet18", "plain18", "alexnet", "mlp",
        "airbench",
    }  # fmt: skip
    assert set(DEHAZERS) == {
        "dehaze_conv", "dehaze_dilated", "dehaze_residual", "dehaze_unet", "aod_net", "dcp",
    }  # fmt: skip


@pytest.mark.parametrize("name", ALL)
def test_info_describes_options_with_valid_defaults(name):
    info = get_model_info(name)
    assert info.description and "\n" not in info.description and len(info.description) <= 64
    assert [s.name for s in info.option_specs] == list(info.options)
    for spec in info.option_specs:
        assert spec.parse(info.options[spec.name]) == info.options[spec.name]


@pytest.mark.parametrize("image_size", SIZES)
@pytest.mark.parametrize("name", ALL)
def test_forward_shape_and_finite(name, image_size):
    model = build(name, image_size)
    x = sample_input(image_size)
    out = model(x)
    if name in CLASSIFIERS:
        assert out.shape == (BATCH, NUM_CLASSES)
    else:
        assert out.shape == x.shape
        assert out.min() >= 0 and out.max() <= 1
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ALL)
def test_every_trainable_parameter_gets_a_gradient(name):
    model = build(name)
    if not model.trainable:
        assert count_parameters(model) == 0
        return
    out = model(sample_input(32))
    # A loss that depends on every output element, so no parameter can hide behind the mean.
    (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


@pytest.mark.parametrize("name", ALL)
def test_parameter_counts_agree(name):
    model = build(name)
    expected = sum(p.numel() for p in model.parameters())
    assert count_parameters(model) == expected
    assert parameter_count(name, num_classes=NUM_CLASSES, **SMALL.get(name, {})) == expected
    assert (expected > 0) == model.trainable


def test_known_parameter_counts():
    # AOD-Net's paper counts 1,761 weights; kuangliu's CIFAR ResNet-18 has 11,173,962 at 10
    # classes; the lab quotes ~60M for full AlexNet.
    assert parameter_count("aod_net") == 1761
    assert parameter_count("resnet18", num_classes=10) == 11_173_962
    assert 50e6 < parameter_count("alexnet") < 65e6
    assert parameter_count("alexnet", width=0.25) < parameter_count("alexnet") / 10
    # plain18 only drops the three 1×1 projection shortcuts.
    assert 0 < parameter_count("resnet18") - parameter_count("plain18") < 200_000


@pytest.mark.parametrize("name", CONV_MODELS)
def test_hand_conv_matches_torch_conv_with_copied_weights(name):
    torch_model = build(name, conv_impl="torch").eval()
    hand_model = build(name, conv_impl="hand").eval()
    hand_model.load_state_dict(torch_model.state_dict())
    hand_convs = [m for m in hand_model.modules() if type(m).__name__ == "MyConv2d"]
    assert hand_convs and not any(isinstance(m, torch.nn.Conv2d) for m in hand_model.modules())
    x = sample_input(32)
    with torch.no_grad():
        torch.testing.assert_close(hand_model(x), torch_model(x), atol=2e-5, rtol=1e-4)


def test_my_conv_is_hand_written_by_default():
    model = create_model("my_conv")
    assert any(type(m).__name__ == "MyConv2d" for m in model.modules())
    assert not any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def test_dilated_reports_hdc_verdict():
    good = create_model("dilated", dilations=[1, 2, 5])
    bad = create_model("dilated", dilations=[2, 4, 6])
    assert good.hdc.ok and not bad.hdc.ok
    assert bad.hdc.reasons
    assert [m.dilation for m in good.modules() if isinstance(m, torch.nn.Conv2d)] == [
        (1, 1),
        (2, 2),
        (5, 5),
    ]


def test_dilated_accepts_a_cli_style_list_and_fits_widths():
    model = create_model("dilated", dilations="1, 2, 5, 1", widths="8,16")
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 16, 16]
    assert model(torch.rand(1, 3, 32, 32)).shape == (1, 10)


def test_conv_layers_and_kernel_size_are_configurable():
    model = create_model("conv", layers=2, widths=[4, 8, 16], kernel_size=5)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.out_channels, c.kernel_size) for c in convs] == [(4, (5, 5)), (8, (5, 5))]


def test_batch_of_one_keeps_its_batch_dimension():
    # The lab's `squeeze()` turned a batch of one into a vector; flatten(1) must not.
    assert create_model("conv", num_classes=3).eval()(torch.rand(1, 3, 32, 32)).shape == (1, 3)


@pytest.mark.parametrize(
    ("name", "options", "image_size", "minimum"),
    [
        ("conv", {"layers": 3, "kernel_size": 5}, 12, 13),
        ("dilated", {"dilations": [1, 2, 5]}, 16, 17),
        ("alexnet", {}, 14, 15),
        ("alexnet", {"stem_kernel": 11, "stem_stride": 4}, 32, 57),
    ],
)
def test_too_small_image_size_names_the_minimum(name, options, image_size, minimum):
    with pytest.raises(ModelError, match=f"at least {minimum} px"):
        create_model(name, image_size=image_size, **options)
    small = {**options, "width": 0.1} if name == "alexnet" else options
    model = create_model(name, image_size=minimum, num_classes=2, **small)
    assert model.eval()(torch.rand(1, 3, minimum, minimum)).shape == (1, 2)


def test_same_padding_lifts_the_size_limit():
    model = create_model("conv", padding="same", image_size=4, widths=[4])
    assert model(torch.rand(2, 3, 4, 4)).shape == (2, 10)


def test_unknown_model_suggests_a_close_name():
    with pytest.raises(ModelError, match="unknown model 'resnet19'.*Did you mean 'resnet18'"):
        create_model("resnet19")
    with pytest.raises(ModelError, match="unknown model"):
        get_model_info("nope")


def test_unknown_option_names_it_and_lists_the_valid_ones():
    with pytest.raises(ModelError, match="no option 'dilation'.*Did you mean 'dilations'"):
        create_model("dilated", dilation=[1, 2])
    with pytest.raises(ModelError, match="'conv' has no option 'width'"):
        create_model("conv", width=3)


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("conv", {"kernel_size": 0}, "'kernel_size' must be ≥ 1"),
        ("conv", {"kernel_size": "three"}, "'kernel_size' must be an integer"),
        ("conv", {"layers": 2.5}, "'layers' must be an integer"),
        ("conv", {"conv_impl": "cuda"}, "'conv_impl' must be one of torch, hand"),
        ("dilated", {"dilations": []}, "'dilations' needs at least 1"),
        ("dilated", {"dilations": [1, 0]}, "'dilations' must be ≥ 1"),
        ("alexnet", {"width": "nan"}, "'width' must be a finite number"),
        ("residual", {"kernel_size": 4}, "'kernel_size' must be odd"),
        ("dcp", {"patch_size": 14}, "'patch_size' must be odd"),
        ("dcp", {"omega": 1.5}, "'omega' must be ≤ 1"),
    ],
)
def test_bad_option_values_raise_model_error_naming_the_option(name, options, message):
    with pytest.raises(ModelError, match=message):
        create_model(name, **options)


@pytest.mark.parametrize("arg", ["num_classes", "in_channels", "image_size"])
def test_bad_common_arguments(arg):
    with pytest.raises(ModelError, match=arg):
        create_model("conv", **{arg: 0})


def test_option_spec_parses_strings_as_a_form_would():
    spec = OptionSpec("dilations", "list[int]", (1, 2, 5), minimum=1)
    assert spec.parse("[1, 2, 5]") == spec.parse("1 2 5") == spec.parse((1, 2, 5)) == [1, 2, 5]
    assert OptionSpec("w", "float", 1.0).parse("0.25") == 0.25
    assert OptionSpec("k", "int", 3).parse("7") == 7
    with pytest.raises(ModelError, match="'k' must be an integer"):
        OptionSpec("k", "int", 3).parse(True)
    assert resolve_options("dilated", {"dilations": "2,4"})["dilations"] == [2, 4]


def test_other_input_channels_and_a_training_free_flag():
    gray = create_model("resnet18", in_channels=1, num_classes=4, base_width=4)
    assert gray(torch.rand(2, 1, 32, 32)).shape == (2, 4)
    assert create_model("conv").trainable and not create_model("dcp").trainable


def test_mlp_rejects_images_of_another_size():
    model = create_model("mlp", image_size=16, hidden=[8])
    with pytest.raises(ModelError, match="built for inputs of shape"):
        model(torch.rand(1, 3, 32, 32))


def test_aod_net_output_follows_its_formula():
    model = build("aod_net")
    x = sample_input(32)
    k = torch.full_like(x, 0.5)
    # Replace conv5 by a constant K to check J = ReLU(K·I − K + 1) end to end.
    with torch.no_grad():
        model.conv5.weight.zero_()
        model.conv5.bias.fill_(0.5)
    torch.testing.assert_close(model(x), torch.relu(k * x - k + 1).clamp(max=1))


def test_dehaze_residual_starts_near_the_identity():
    x = sample_input(32)
    assert (build("dehaze_residual")(x) - x).abs().mean() < 0.05


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return -10 * math.log10(torch.mean((a - b) ** 2).item())


def synthetic_haze(size: int = 64, blocks: int = 4, seed: int = 0):
    """A scene that obeys the dark channel prior — flat colourful objects, each with one dark
    channel — under a sky, hazed with I = J·t + A(1 − t) (t falls with depth; sky is far)."""
    g = torch.Generator().manual_seed(seed)
    colours = torch.rand(1, 3, blocks, blocks, generator=g) * 0.8 + 0.1
    colours = colours.scatter(1, torch.randint(0, 3, (1, 1, blocks, blocks), generator=g), 0.02)
    colours[..., 0, :] = 0.85  # the sky row
    depth = torch.linspace(1.0, 0.1, blocks).view(1, 1, blocks, 1)
    depth = depth + 0.2 * torch.rand(1, 1, blocks, blocks, generator=g)
    depth[..., 0, :] = 3.0
    clear = torch.nn.functional.interpolate(colours, size=size, mode="nearest")
    t = torch.nn.functional.interpolate(torch.exp(-1.5 * depth), size=size, mode="nearest")
    airlight = torch.tensor([0.9, 0.88, 0.85]).view(1, 3, 1, 1)
    return clear, clear * t + airlight * (1 - t), airlight


@pytest.mark.parametrize("seed", [0, 1])
def test_dcp_improves_psnr_on_synthetic_haze(seed):
    clear, hazy, airlight = synthetic_haze(seed=seed)
    model = create_model("dcp", image_size=64)
    dehazed = model(hazy)
    assert dehazed.shape == hazy.shape
    assert _psnr(dehazed, clear) > _psnr(hazy, clear) + 4


def test_dcp_reads_the_airlight_from_the_haziest_pixels():
    _, hazy, airlight = synthetic_haze()
    estimate = atmospheric_light(hazy, dark_channel(hazy, 15))
    torch.testing.assert_close(estimate, airlight, atol=0.02, rtol=0)


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """`cnnlab models …` through the command's own parser (isolated from other commands)."""
    import argparse

    from engine.cli import models_cmd

    parser = argparse.ArgumentParser(prog="cnnlab")
    models_cmd.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["models", *argv])
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_lists_every_model_with_its_parameter_count(capsys):
    code, out, _ = run_cli([], capsys)
    assert code == 0
    for info in list_models():
        assert info.name in out
    assert f"{parameter_count('aod_net'):,}" in out and "1,761" in out
    assert f"{parameter_count('resnet18', num_classes=3):,}" in out


def test_cli_filters_by_task(capsys):
    code, out, _ = run_cli(["--task", "dehaze"], capsys)
    assert code == 0 and "aod_net" in out and "resnet18" not in out


def test_cli_shows_options_and_hdc_verdict(capsys):
    code, out, _ = run_cli(["dilated", "-o", "dilations=2,4,6"], capsys)
    assert code == 0
    assert "list[int]" in out and "conv_impl" in out and "torch | hand" in out
    assert "not ok" in out and "common" in out


def test_cli_reports_mistakes_in_one_line(capsys):
    code, out, err = run_cli(["resnet19"], capsys)
    assert code == 1 and "Did you mean 'resnet18'" in err and "Traceback" not in err
    code, _, err = run_cli(["conv", "-o", "kernel_size=0"], capsys)
    assert code == 1 and "'kernel_size' must be ≥ 1" in err


def test_dehaze_dilated_reports_hdc_and_info_finds_specs():
    assert create_model("dehaze_dilated").hdc.ok
    assert not create_model("dehaze_dilated", dilations=[2, 4]).hdc.ok
    assert get_model_info("alexnet").spec("width").kind == "float"
    with pytest.raises(ModelError, match="no option 'widht'.*Did you mean 'width'"):
        get_model_info("alexnet").spec("widht")


def test_registration_rejects_a_factory_that_drifts_from_its_options():
    from engine.models import register_model

    with pytest.raises(ValueError, match="do not match"):

        @register_model("drifted", task="classify", description="x", options=())
        def drifted(*, num_classes, in_channels, image_size, layers):  # 'layers' undeclared
            raise AssertionError("never built")

    with pytest.raises(ModelError, match="unknown model 'drifted'"):
        get_model_info("drifted")
