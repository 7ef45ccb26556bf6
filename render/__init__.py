"""The shared render core: decode, segment, compose, encode. Knows nothing of chats or users.

Importing it does not import torch; only the torch backends (U^2-Net on CUDA or without its onnx
export, IS-Net) load it, when they are built. A CPU worker running u2netp/u2net through onnxruntime
never imports torch.
"""

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
from render.cutout import Cutout
from render.decode import MAX_PIXELS, decode
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
