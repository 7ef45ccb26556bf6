"""The shared render core: decode, segment, compose, encode. Knows nothing of chats or users.

Importing it does not import torch; only the torch backends (U^2-Net on CUDA or without its onnx
export, IS-Net) load it, when they are built. A CPU worker running u2netp/u2net through onnxruntime
never imports torch.

Nor does importing it import numpy or OpenCV: the names below are loaded on first use, so a process that only
asks `render.weights` whether the weights are fetched (the front, at start-up) carries none of the image stack
(about 20 MB of resident memory; bench/front_end.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from render.api import (
        compose_outputs,
        cutout,
        cutout_image,
        cutout_images,
        default_segmenter,
        render,
        segment,
        segment_batch,
    )
    from render.cutouts import Cutout
    from render.decoding import MAX_PIXELS, decode
    from render.encode import Output
    from render.errors import (
        ImageTooLarge,
        ImageTooSmall,
        InvalidOption,
        RenderError,
        SegmentationFailed,
        UnreadableImage,
        UnsupportedFormat,
        WeightsError,
        WeightsUnavailable,
    )
    from render.segmenter import Segmenter, load_segmenter
    from render.styles import PALETTE, SIZES, STYLES, is_valid_size, is_valid_style, parse_size, parse_style

# Where each public name lives, for `__getattr__` (PEP 562).
_MODULES = {
    "render.api": (
        "compose_outputs",
        "cutout",
        "cutout_image",
        "cutout_images",
        "default_segmenter",
        "render",
        "segment",
        "segment_batch",
    ),
    "render.cutouts": ("Cutout",),
    "render.decoding": ("MAX_PIXELS", "decode"),
    "render.encode": ("Output",),
    "render.errors": (
        "ImageTooLarge",
        "ImageTooSmall",
        "InvalidOption",
        "RenderError",
        "SegmentationFailed",
        "UnreadableImage",
        "UnsupportedFormat",
        "WeightsError",
        "WeightsUnavailable",
    ),
    "render.segmenter": ("Segmenter", "load_segmenter"),
    "render.styles": ("PALETTE", "SIZES", "STYLES", "is_valid_size", "is_valid_style", "parse_size", "parse_style"),
}
_HOME = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'render' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # looked up once
    return value


__all__ = [
    "MAX_PIXELS",
    "PALETTE",
    "SIZES",
    "STYLES",
    "Cutout",
    "ImageTooLarge",
    "ImageTooSmall",
    "InvalidOption",
    "Output",
    "RenderError",
    "SegmentationFailed",
    "Segmenter",
    "UnreadableImage",
    "UnsupportedFormat",
    "WeightsError",
    "WeightsUnavailable",
    "compose_outputs",
    "cutout",
    "cutout_image",
    "cutout_images",
    "decode",
    "default_segmenter",
    "is_valid_size",
    "is_valid_style",
    "load_segmenter",
    "parse_size",
    "parse_style",
    "render",
    "segment",
    "segment_batch",
]
