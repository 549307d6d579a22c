"""Hand-written convolution and pooling (no torch conv/pool calls), and conv arithmetic.

`reference` keeps the lab's loops for teaching; `functional`/`layers` are the vectorised,
autograd-capable versions the models use; `arithmetic` answers size and HDC questions.
"""

from engine.ops.arithmetic import (
    HDCReport,
    conv_output_size,
    effective_kernel_size,
    gridding_map,
    hdc_check,
    receptive_field,
)
from engine.ops.conv import conv2d
from engine.ops.layers import MyAvgPool2d, MyConv2d, MyMaxPool2d, MyMaxUnpool2d
from engine.ops.learn import LearnedKernel, learn_kernel
from engine.ops.pool import avg_pool2d, max_pool2d, max_unpool2d
from engine.ops.reference import corr2d, corr2d_multi_in, corr2d_multi_in_out, edge_image, pool2d
from engine.ops.select import conv_kernel, set_conv_kernel

__all__ = [
    "HDCReport",
    "LearnedKernel",
    "MyAvgPool2d",
    "MyConv2d",
    "MyMaxPool2d",
    "MyMaxUnpool2d",
    "avg_pool2d",
    "conv2d",
    "conv_kernel",
    "conv_output_size",
    "corr2d",
    "corr2d_multi_in",
    "corr2d_multi_in_out",
    "edge_image",
    "effective_kernel_size",
    "gridding_map",
    "hdc_check",
    "learn_kernel",
    "max_pool2d",
    "max_unpool2d",
    "pool2d",
    "receptive_field",
    "set_conv_kernel",
]
