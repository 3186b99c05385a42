"""The plain reference loop of the runtime tests: PIL, torchvision's transforms, a runner."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def loop_answers(
    nips: Path, files: list[str], run: Callable[[np.ndarray], np.ndarray]
) -> dict[str, tuple[list[int], float]]:
    """file -> (top-5, top-1 probability) of squeezenet1_1's preprocessing, ``run``, softmax."""
    from torchvision.models import SqueezeNet1_1_Weights

    tf = SqueezeNet1_1_Weights.DEFAULT.transforms()
    found = {}
    for name in files:
        x = tf(Image.open(nips / "images" / name).convert("RGB")).unsqueeze(0).numpy()
        p = torch.from_numpy(np.asarray(run(x), dtype=np.float32)).softmax(-1)[0]
        prob, top = p.topk(5)
        found[name] = (top.tolist(), float(prob[0]))
    return found
