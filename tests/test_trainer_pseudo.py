"""Pseudo-labelling (transductive self-training): who gets a label, when, and that the
learning-rate schedule keeps its planned number of steps."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from engine.datasets.registry import load_dataset
from engine.events import BatchProgress, Log
from engine.trainer.config import TrainConfig
from engine.trainer.epoch import Parts
from engine.trainer.loop import Trainer
from engine.trainer.pseudo import confident_labels, pseudo_label_epoch
from engine.trainer.tasks import ClassifyTask

pytestmark = pytest.mark.usefixtures("one_thread")


class Brightness(nn.Module):
    """Logits (4·(m − 0.5), −4·(m − 0.5)) of the mean brightness m: bright → class 0."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(dim=(1, 2, 3)) - 0.5
        return torch.stack([8 * m, -8 * m], dim=1)


def _parts(model: nn.Module) -> Parts:
    return Parts(
        model=model, task=ClassifyTask(2, "none", "none", None, None), optimizer=None,
        scheduler=None, scaler=torch.amp.GradScaler("cpu", enabled=False),
        device=torch.device("cpu"), amp_dtype=None, batch_size=2, batches_per_epoch=1,
        shuffle_generator=torch.Generator(), augment_generator=torch.Generator(),
    )  # fmt: skip


def test_only_confident_images_get_their_predicted_class():
    levels = torch.tensor([250, 140, 120, 5], dtype=torch.uint8)  # bright, unsure ×2, dark
    x = levels.view(4, 1, 1, 1).expand(4, 3, 4, 4).contiguous()
    kept, labels = confident_labels(_parts(Brightness()), x, threshold=0.9)
    assert torch.equal(kept[:, 0, 0, 0], torch.tensor([250, 5], dtype=torch.uint8))
    assert labels.tolist() == [0, 1]
    empty, none = confident_labels(_parts(Brightness()), x[:0], threshold=0.9)
    assert empty.shape[0] == 0 and none.shape == (0,)


def test_pseudo_labels_start_in_the_second_half_only_when_asked():
    assert [pseudo_label_epoch(e, 4, 0.9) for e in range(1, 5)] == [False, False, True, True]
    assert not any(pseudo_label_epoch(e, 4, 0.0) for e in range(1, 5))


def test_a_run_self_trains_without_changing_its_step_count(tmp_path):
    config = TrainConfig(
        dataset="shapes", image_size=16, model="conv", model_options={"widths": [8, 16]},
        epochs=2, batch_size=50, device="cpu", max_train_batches=3, val_fraction=0.2,
        pseudo_label=0.3,  # below 1/3: every image of a 3-class set is "confident"
    )  # fmt: skip
    trainer = Trainer(config, runs_dir=tmp_path)
    events: list = []
    trainer.subscribe(events.append)
    assert trainer.run() == "completed"
    notes = [e.message for e in events if isinstance(e, Log) and "pseudo" in e.message]
    assert len(notes) == 1 and notes[0].startswith("epoch 2:")  # second half of 2 epochs
    added = int(notes[0].split(": ")[1].split()[0])
    sizes = load_dataset("shapes", image_size=16, val_fraction=0.2).split_sizes()
    assert added == sizes["val"] + sizes["test"]  # every val and test image
    batches = {(e.epoch, e.num_batches) for e in events if isinstance(e, BatchProgress)}
    assert batches == {(1, 3), (2, 3)}


def test_pseudo_label_is_validated():
    assert "below 1" in TrainConfig(pseudo_label=1.0).validate()["pseudo_label"]
    haze = TrainConfig(dataset="haze_synth", model="dehaze_conv", pseudo_label=0.9)
    assert "classification only" in haze.validate()["pseudo_label"]
