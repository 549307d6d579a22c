"""The hand-written ops under torch's functional names: `conv2d`, `max_pool2d`, `avg_pool2d`,
`max_unpool2d`.

Import from here the way you would from `torch.nn.functional`.
"""

from engine.ops.conv import conv2d
from engine.ops.pool import avg_pool2d, max_pool2d, max_unpool2d

__all__ = ["avg_pool2d", "conv2d", "max_pool2d", "max_unpool2d"]
