"""The lab's learn-the-edge-kernel demo converges to K = [[1, -1]]."""

from __future__ import annotations

import pytest
import torch

from engine.errors import OpError
from engine.ops.learn import learn_kernel
from engine.ops.reference import edge_image


@pytest.mark.parametrize("seed", [0, 3])
def test_learn_kernel_recovers_the_edge_detector(seed):
    result = learn_kernel(seed=seed)
    assert result.losses[-1] < 1e-3 < result.losses[0]
    torch.testing.assert_close(result.kernel, torch.tensor([[1.0, -1.0]]), atol=0.01, rtol=0)
    assert abs(result.bias) < 0.01


def test_learn_kernel_reports_every_step_to_the_callback():
    seen = []
    result = learn_kernel(steps=5, callback=lambda step, loss, k: seen.append((step, loss, k)))
    assert [s for s, _, _ in seen] == [1, 2, 3, 4, 5]
    assert [loss for _, loss, _ in seen] == result.losses
    assert seen[-1][2].shape == (1, 2)


def test_learn_kernel_rejects_a_target_of_the_wrong_shape():
    with pytest.raises(OpError, match="target"):
        learn_kernel(edge_image(), torch.zeros(6, 8))
