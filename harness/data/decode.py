"""How photos are decoded: the JPEG draft scale of ``--decode fast``, and a run's Decoder.

The size limit (``MAX_PIXELS``) and the modes (``MODES``) are run defaults, in ``harness.config``.
"""

from __future__ import annotations

from typing import Any

from harness.config import MODES, RunConfig
from harness.data.images import Decoder


def _side(size: Any) -> int | None:
    """The short side a resize ``size`` asks for: ``s`` or ``[s]``; ``[h, w]``: max(h, w).

    For ``[h, w]`` (aspect not kept) a short side of max(h, w) covers both.
    """
    if isinstance(size, int):
        return size
    if isinstance(size, (list, tuple)) and size and all(isinstance(s, int) for s in size):
        return max(size) if len(size) <= 2 else None
    return None


def needed_side(transform: Any) -> int | None:
    """The smallest short side a decoded image may have before ``transform`` sees it.

    Known: torchvision's ``ImageClassification`` (a weights entry's
    ``transforms()``: resize the short side to ``resize_size``, then crop), and a
    ``Compose`` whose first step is a torchvision ``Resize`` (v1 or v2; what timm's
    evaluation transforms are). Anything else: None (decode exactly), since
    shrinking the image before an unknown first step could change its output.

    >>> from torchvision.models import ResNet50_Weights
    >>> needed_side(ResNet50_Weights.IMAGENET1K_V2.transforms())
    232
    >>> from torchvision import transforms as T
    >>> needed_side(T.Compose([T.Resize(235), T.CenterCrop(224)])), needed_side(T.CenterCrop(9))
    (235, None)
    """
    from torchvision import transforms as v1
    from torchvision.transforms import v2
    from torchvision.transforms._presets import ImageClassification

    if isinstance(transform, ImageClassification):
        return _side(transform.resize_size)
    if isinstance(transform, (v1.Compose, v2.Compose)) and transform.transforms:
        first = transform.transforms[0]
        if isinstance(first, (v1.Resize, v2.Resize)):
            return _side(first.size)
    return None


def draft_side(mode: str, transform: Any) -> int | None:
    """The short side JPEGs are draft-decoded to: None for ``exact`` or an unknown transform."""
    if mode not in MODES:
        raise ValueError(f"decode mode {mode!r}: expected one of {MODES}")
    return needed_side(transform) if mode == "fast" else None


def decoder(cfg: RunConfig, transform: Any) -> Decoder:
    """How files are decoded for ``transform``: the size limit and, if fast, the draft side."""
    return Decoder(cfg.max_pixels, draft_side(cfg.decode, transform))
