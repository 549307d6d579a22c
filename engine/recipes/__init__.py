"""Recipe helpers that make models generalise: test-time augmentation, BatchNorm
re-estimation on unlabelled images, and mixup/cutmix.

Each helper is a pure function over a model and tensors, so the trainer uses them behind
config fields (`tta`, `bn_adapt`, `mixup`, …) and tests check them on tiny synthetic data.
"""

from engine.recipes.batchnorm import adapt_batchnorm, batchnorm_adapted, has_batchnorm
from engine.recipes.mixing import MIXING, mix_batch, mixed_loss
from engine.recipes.tta import TTA_MODES, tta_logits, tta_outputs

__all__ = [
    "MIXING",
    "TTA_MODES",
    "adapt_batchnorm",
    "batchnorm_adapted",
    "has_batchnorm",
    "mix_batch",
    "mixed_loss",
    "tta_logits",
    "tta_outputs",
]
