"""Conv arithmetic: sizes, receptive fields, the HDC rules and the gridding picture."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from engine.errors import OpError
from engine.ops.arithmetic import (
    conv_output_size,
    effective_kernel_size,
    gridding_map,
    hdc_check,
    receptive_field,
)


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "d"),
    [(8, 3, 2, 1, 1), (32, 5, 1, 0, 1), (30, 3, 1, 0, 2), (224, 11, 4, 2, 1), (7, 3, 3, 3, 3)],
)
def test_conv_output_size_agrees_with_a_real_convolution(size, k, s, p, d):
    out = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, k, k), None, s, p, d)
    assert conv_output_size(size, k, s, p, d) == out.shape[-1]


def test_lab_padding_stride_example_gives_four():
    assert conv_output_size(8, 3, stride=2, padding=1) == 4


def test_effective_kernel_size():
    assert effective_kernel_size(3, 1) == 3
    assert effective_kernel_size(3, 2) == 5
    assert effective_kernel_size(3, 5) == 11


def test_receptive_field_of_stacks():
    assert receptive_field([3, 3, 3]) == 7
    assert receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 5)]) == 17
    assert receptive_field([2, 2, 2, 2]) == 5  # the lab: four k=2 layers see 5 pixels
    assert receptive_field([(2, 1, 1), (2, 1, 2), (2, 1, 4), (2, 1, 8)]) == 16  # …dilated: 16
    assert receptive_field([{"kernel_size": 3, "stride": 2}, {"kernel_size": 3}]) == 7


def test_hdc_lab_example_passes_with_m2_equal_2():
    report = hdc_check([1, 2, 5], 3)
    assert report.ok and report.reasons == ()
    assert report.m_values == (1, 2, 5)
    assert report.table() == [(1, 1, 1), (2, 2, 2), (3, 5, 5)]


def test_hdc_common_factor_fails_for_gridding():
    report = hdc_check([2, 4, 6], 3)
    assert not report.ok
    assert any("common factor 2" in reason for reason in report.reasons)


def test_hdc_large_m2_fails():
    report = hdc_check([1, 2, 9], 3)
    assert not report.ok
    assert report.m_values[1] == 5
    assert report.reasons == ("M_2 = 5 > k = 3: the second layer leaves holes",)


def test_hdc_report_is_frozen():
    with pytest.raises(AttributeError):
        hdc_check([1, 2, 5], 3).ok = False


def test_gridding_map_shows_the_holes_of_stacked_dilation_2():
    counts = gridding_map([2, 2, 2], 3)
    assert counts.shape == (13, 13)
    assert (counts[1::2, :] == 0).all() and (counts[:, 1::2] == 0).all()
    assert counts[::2, ::2].min() > 0


def test_gridding_map_of_hdc_stack_covers_every_pixel_and_counts_paths():
    counts = gridding_map([1, 2, 5], 3)
    assert counts.shape == (receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 5)]),) * 2
    assert (counts > 0).all()
    assert counts.sum() == 9**3  # every path of 3 layers x 9 taps lands somewhere


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: conv_output_size(4, 7), "larger than the input"),
        (lambda: conv_output_size(8, 3, stride=0), "stride"),
        (lambda: conv_output_size(8, 3, padding=-1), "padding"),
        (lambda: hdc_check([], 3), "at least one"),
        (lambda: hdc_check([1, 0, 2], 3), "dilation rate"),
        (lambda: gridding_map([1, 2], 0), "kernel_size"),
        (lambda: receptive_field(["big"]), "a layer is"),
    ],
)
def test_arithmetic_bad_arguments_raise_op_error(call, message):
    with pytest.raises(OpError, match=message):
        call()
