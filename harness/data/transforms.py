"""The weights' preprocessing split at its tensor step: resize and crop in the loader
workers, ``uint8 -> float`` and normalising a whole batch at once on the device.

torchvision's ``ImageClassification`` and timm's eval transforms both end with
the same two steps: the cropped image as a tensor divided by 255, then
``(x - mean) / std``. Done per image in a worker, each image's float tensor is
four times the bytes of its pixels through the workers' shared memory, and the
main process then copies the batch once more into channels-last. Done here,
the workers send uint8 pixels (H, W, C: already channels-last), and one pass
over the batch in the main process (or on the GPU, after a transfer a quarter
the size) gives the same numbers: the same float32 operations in the same
order, element by element (``tests/unit/data/test_transforms.py`` checks them equal, bit
for bit, to the transform's own). This is what timm's prefetching loader does
on GPUs. A transform of any other shape is applied whole in the workers, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import torch
from torchvision.transforms import Compose, Normalize, ToTensor
from torchvision.transforms import functional as F
from torchvision.transforms._presets import ImageClassification

# the image steps a split may hold: they resize or crop an RGB image and keep its mode
# (torchvision's; timm's, by name, so that timm is not imported for torchvision models)
IMAGE_STEPS = {
    "torchvision.transforms.transforms": ("Resize", "CenterCrop"),
    "timm.data.transforms": ("ResizeKeepRatio", "CenterCropOrPad"),
}


@dataclass(frozen=True)
class Split:
    """``image``: PIL -> PIL (resize, crop); then ``pixels`` in the worker, ``normalise`` after."""

    image: Callable[[Any], Any]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def pixels(self, img: Any) -> torch.Tensor:
        """The resized, cropped RGB image as (H, W, 3) uint8."""
        return torch.from_numpy(np.array(self.image(img), dtype=np.uint8, copy=True))

    def normalise(self, batch: torch.Tensor, channels_last: bool = True) -> torch.Tensor:
        """(B, H, W, C) uint8 -> (B, C, H, W) float32, normalised, stored channels-last
        (or, if not ``channels_last``, contiguous NCHW).

        ``convert_image_dtype``'s ``x.to(float) / 255``, but divided in place, and NCHW
        made while still uint8 (a quarter of the bytes): a fast model's end to end
        spends several times less on this step, with the same values bit for bit.
        """
        x = batch.permute(0, 3, 1, 2)  # a view: (B, C, H, W) stored channels-last
        if not channels_last:
            x = x.contiguous()
        x = x.to(torch.float).div_(255.0)  # .to keeps the memory format
        return F.normalize(x, list(self.mean), list(self.std), inplace=True)


def _resize_crop(t: ImageClassification, img: Any) -> Any:
    """``ImageClassification.forward`` up to its tensor step, with its own arguments."""
    img = F.resize(img, t.resize_size, interpolation=t.interpolation, antialias=t.antialias)
    return F.center_crop(img, t.crop_size)


def split(transform: Any) -> Split | None:
    """``transform`` as a ``Split`` when it has one of the two known shapes, else None."""
    if type(transform) is ImageClassification:
        return Split(
            partial(_resize_crop, transform), _floats(transform.mean), _floats(transform.std)
        )
    if isinstance(transform, Compose) and len(transform.transforms) >= 2:
        *image, to_tensor, norm = transform.transforms
        # ToTensor (timm's MaybeToTensor is one) divides by 255; timm's own ToTensor does not
        if isinstance(to_tensor, ToTensor) and type(norm) is Normalize and all(map(_image, image)):
            return Split(Compose(image), _floats(norm.mean), _floats(norm.std))
    return None


def _image(step: Any) -> bool:
    """Whether ``step`` is one of the ``IMAGE_STEPS``."""
    return type(step).__name__ in IMAGE_STEPS.get(type(step).__module__, ())


def _floats(values: Sequence[float] | torch.Tensor) -> tuple[float, ...]:
    return tuple(float(v) for v in values)
