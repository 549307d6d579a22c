"""MyConv2d / MyMaxPool2d / MyAvgPool2d are drop-ins for their torch namesakes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.errors import OpError
from engine.ops.layers import MyAvgPool2d, MyConv2d, MyMaxPool2d, MyMaxUnpool2d

CONV_ARGS = [
    dict(in_channels=3, out_channels=8, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2, padding=1, groups=2),
    dict(in_channels=2, out_channels=4, kernel_size=5, padding="same", dilation=2, bias=False),
    dict(in_channels=2, out_channels=2, kernel_size=3, padding=2, padding_mode="reflect"),
    dict(
        in_channels=2, out_channels=2, kernel_size=(2, 3), padding="same", padding_mode="circular"
    ),
]


@pytest.mark.parametrize("kwargs", CONV_ARGS)
def test_my_conv2d_initialises_and_computes_like_nn_conv2d(kwargs):
    torch.manual_seed(7)
    theirs = nn.Conv2d(**kwargs)
    torch.manual_seed(7)
    ours = MyConv2d(**kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for name, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[name], value), name
    x = torch.randn(2, kwargs["in_channels"], 9, 10)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)
    assert repr(ours).replace("MyConv2d", "Conv2d") == repr(theirs)


def test_my_conv2d_state_dict_moves_between_implementations():
    theirs = nn.Conv2d(3, 5, 3, padding=1)
    ours = MyConv2d(3, 5, 3, padding=1)
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(1, 3, 6, 6)
    torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def _tiny_net(conv: type[nn.Module]) -> nn.Sequential:
    return nn.Sequential(
        conv(3, 6, 3, padding=1),
        nn.ReLU(),
        conv(6, 8, 3, stride=2, dilation=1, groups=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )


def test_net_with_my_conv2d_trains_to_the_same_loss_curve_as_nn_conv2d():
    torch.manual_seed(0)
    reference = _tiny_net(nn.Conv2d).double()
    ours = _tiny_net(MyConv2d).double()
    ours.load_state_dict(reference.state_dict())
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 12, 12, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 4, (16,), generator=generator)
    curves = []
    for net in (reference, ours):
        optimiser = torch.optim.SGD(net.parameters(), lr=0.3, momentum=0.9)
        losses = []
        for _ in range(20):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        curves.append(losses)
    assert curves[0][-1] < curves[0][0] * 0.9  # it really trained
    assert curves[1] == pytest.approx(curves[0], abs=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(in_channels=3, out_channels=4, kernel_size=3, groups=2), "in_channels 3"),
        (dict(in_channels=4, out_channels=3, kernel_size=3, groups=2), "out_channels 3"),
        (dict(in_channels=1, out_channels=1, kernel_size=3, padding=-1), "negative"),
        (dict(in_channels=1, out_channels=1, kernel_size=3, padding="full"), "'same' or 'valid'"),
        (dict(in_channels=1, out_channels=1, kernel_size=3, padding="same", stride=2), "stride 1"),
        (dict(in_channels=1, out_channels=1, kernel_size=3, padding_mode="mirror"), "padding_mode"),
        (dict(in_channels=1, out_channels=1, kernel_size=0), "kernel_size"),
    ],
)
def test_my_conv2d_bad_arguments_raise_op_error(kwargs, message):
    with pytest.raises(OpError, match=message):
        MyConv2d(**kwargs)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (MyMaxPool2d(3, 2, 1, ceil_mode=True), nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (MyMaxPool2d((2, 3), dilation=2), nn.MaxPool2d((2, 3), dilation=2)),
        (MyAvgPool2d(3, 2, 1, count_include_pad=False), nn.AvgPool2d(3, 2, 1, False, False)),
        (MyAvgPool2d(2), nn.AvgPool2d(2)),
        (MyAvgPool2d(3, 1, 1, divisor_override=4), nn.AvgPool2d(3, 1, 1, divisor_override=4)),
        (MyMaxPool2d(3, 2, 1, 1, False, True), nn.MaxPool2d(3, 2, 1, 1, False, True)),
    ],
)
def test_pool_modules_match_torch_modules(ours, theirs):
    x = torch.randn(2, 3, 11, 9, dtype=torch.float64)
    torch.testing.assert_close(ours(x), theirs(x))
    assert repr(ours).replace("My", "") == repr(theirs)


def test_max_pool_module_returns_indices_that_the_unpool_module_consumes_like_torch():
    x = torch.randn(2, 3, 8, 9, dtype=torch.float64)
    ours, theirs = MyMaxPool2d(2, return_indices=True), nn.MaxPool2d(2, return_indices=True)
    (values, index), (their_values, their_index) = ours(x), theirs(x)
    assert torch.equal(values, their_values) and torch.equal(index, their_index)
    unpool, their_unpool = MyMaxUnpool2d(2), nn.MaxUnpool2d(2)
    assert repr(unpool).replace("My", "") == repr(their_unpool)
    restored = unpool(values, index, output_size=x.shape)
    assert restored.shape == x.shape
    assert torch.equal(restored, their_unpool(values, index, output_size=x.shape))
