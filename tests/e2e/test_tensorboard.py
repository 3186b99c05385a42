"""What TensorBoard shows of a ``test`` run on the shared photos."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from harness.cli.main import main
from tests.helpers import nips_args

FAST = ["--no-progress", "--num-workers", "0", "--accelerator", "cpu"]


def test_tensorboard_holds_the_run(nips, squeezenet_weights, tmp_path, monkeypatch):
    """Scalars, hyperparameters and the sample grid, read back with TensorBoard's reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    monkeypatch.chdir(tmp_path)
    args = [
        "test",
        "--model",
        "squeezenet1_1",
        *nips_args(nips, squeezenet_weights),
        "--limit",
        "40",
        *FAST,
    ]
    assert main(args) == 0
    (run,) = (tmp_path / "lightning_logs" / "squeezenet1_1").iterdir()
    res = json.loads((run / "results.json").read_text())
    ea = EventAccumulator(str(run), size_guidance={"images": 0, "scalars": 0})
    ea.Reload()
    assert ea.Scalars("test/top1")[-1].value == pytest.approx(res["correct1"] / 40, abs=1e-6)
    assert ea.Scalars("test/top5")[-1].value == pytest.approx(res["correct5"] / 40, abs=1e-6)
    (grid,) = ea.Images("test/samples")  # 16 samples: 4 rows of 4, captions above, 224 crops
    assert (grid.width, grid.height) == (4 * (224 + 4), 4 * (224 + 32 + 4))
    pixels = np.asarray(Image.open(io.BytesIO(grid.encoded_image_string)).convert("RGB"))
    assert pixels.shape == (grid.height, grid.width, 3)
    with open(run / "predictions.csv", newline="") as f:
        first = list(csv.DictReader(f))[:16]  # the grid's samples: the first images, in order
    for k, row in enumerate(first):  # a caption has red text exactly where the top-1 is wrong
        y, x = (k // 4) * (224 + 32 + 4), (k % 4) * (224 + 4)
        caption = pixels[y : y + 32, x : x + 224].astype(int)
        red = (caption[..., 0] > 150) & (caption[..., 1] < 100) & (caption[..., 2] < 100)
        assert red.any() == (row["correct1"] == "0"), (k, row["file"])
    assert ea.Scalars("test/images_per_second")[-1].value == pytest.approx(
        res["images_per_second"], rel=1e-6
    )
    content = ea.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hp = HParamsPluginData.FromString(content).session_start_info.hparams
    assert hp["model"].string_value == "squeezenet1_1"
    assert hp["weights"].string_value == str(squeezenet_weights)
    assert hp["precision"].string_value == "32-true"
    assert hp["batch_size"].number_value == 32
    assert hp["limit"].number_value == 40  # runs with different --limit are told apart
    assert hp["labels"].string_value == str(nips / "labels.csv")
    import yaml

    saved = yaml.safe_load((run / "hparams.yaml").read_text())  # the same, for a script
    assert {k: hp[k].string_value or hp[k].number_value for k in saved} == {
        k: v if isinstance(v, int | float) else str(v) for k, v in saved.items()
    }
    assert saved["model"] == "squeezenet1_1" and saved["limit"] == 40
    experiment = HParamsPluginData.FromString(
        ea.PluginTagToContent("hparams")["_hparams_/experiment"]
    )
    assert {m.name.tag for m in experiment.experiment.metric_infos} == {
        "test/top1",
        "test/top5",
        "test/images_per_second",
    }
