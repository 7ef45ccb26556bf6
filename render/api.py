"""The public entry points: segment, cutout, compose_outputs, render."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from render.compose import compose
from render.cutouts import Cutout, assess
from render.decoding import decode
from render.encode import Output, encode
from render.errors import SegmentationFailed
from render.segmenter import Segmenter, load_segmenter
from render.styles import parse_size, parse_style

WORK_MAX_SIDE = 2048
"""Photos are decoded to at most this long side (JPEG at a reduced DCT scale): outputs are capped there."""


@functools.lru_cache(maxsize=4)
def _cached_segmenter(kind: str, models_dir: Path | None, weights: Path | None) -> Segmenter:
    return load_segmenter(kind, models_dir, weights)


def default_segmenter(kind: str = "auto", models_dir: Path | None = None, weights: Path | None = None) -> Segmenter:
    """The process's segmenter for these settings, built once (weights are loaded once per worker)."""
    return _cached_segmenter(kind, models_dir, weights)


def _rgb_and_alpha(image: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB pixels (transparent parts over white) and the photo's own alpha when it has a real one."""
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"))
        white = Image.new("RGB", image.size, (255, 255, 255))
        white.paste(image.convert("RGB"), (0, 0), image.getchannel("A"))
        own = alpha if (alpha < 250).mean() > 0.02 else None
        return np.asarray(white), own
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB")), None


def _mattes(rgbs: Sequence[np.ndarray], segmenter: Segmenter) -> list[tuple[np.ndarray, np.ndarray]]:
    """(full-resolution matte, coarse matte) per image: see render.matte."""
    from render.matte import mattes

    return mattes(rgbs, segmenter)


def segment(image: Image.Image, *, segmenter: Segmenter | None = None) -> Image.Image:
    """Alpha matte of `image` (mode "L", the size of the EXIF-transposed input, 255 = product)."""
    return segment_batch([image], segmenter=segmenter)[0]


def segment_batch(images: Sequence[Image.Image], *, segmenter: Segmenter | None = None) -> list[Image.Image]:
    """`segment` for several images, which go through the network together."""
    seg = segmenter or default_segmenter()
    upright = [ImageOps.exif_transpose(im) or im for im in images]
    pairs = [_rgb_and_alpha(im) for im in upright]
    todo = [i for i, (_, own) in enumerate(pairs) if own is None]
    mattes = dict(zip(todo, _mattes([pairs[i][0] for i in todo], seg), strict=True))
    result = []
    for i, (_, own) in enumerate(pairs):
        alpha = own if own is not None else np.rint(mattes[i][0] * 255).astype(np.uint8)
        result.append(Image.fromarray(np.ascontiguousarray(alpha, dtype=np.uint8), "L"))
    return result


def cutout_image(image: Image.Image, *, segmenter: Segmenter | None = None) -> Cutout:
    return cutout_images([image], segmenter=segmenter)[0]


def cutout_images(images: Sequence[Image.Image], *, segmenter: Segmenter | None = None) -> list[Cutout]:
    """Cutouts of decoded, upright images (one network batch). SegmentationFailed when one is empty."""

    seg = segmenter or default_segmenter()
    pairs = [_rgb_and_alpha(im) for im in images]
    todo = [i for i, (_, own) in enumerate(pairs) if own is None]
    mattes = dict(zip(todo, _mattes([pairs[i][0] for i in todo], seg), strict=True))
    cutouts = []
    for i, (rgb, own) in enumerate(pairs):
        if own is not None:
            alpha = own.astype(np.float32) / 255.0
            coarse = alpha
        else:
            alpha, coarse = mattes[i]
        cutouts.append(_build(rgb, alpha, coarse, "input_alpha" if own is not None else seg.name))
    return cutouts


def _build(rgb: np.ndarray, alpha: np.ndarray, coarse: np.ndarray, name: str) -> Cutout:
    import cv2

    from render.refine import estimate_foreground

    seen = alpha > 0.02
    rows, cols = np.flatnonzero(seen.any(1)), np.flatnonzero(seen.any(0))
    if rows.size == 0 or np.count_nonzero(alpha > 0.5) < 0.0005 * alpha.size:
        raise SegmentationFailed("no product found")
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    hard, reason, confidence = assess(alpha, coarse)
    crop_rgb = rgb[top:bottom, left:right]
    crop_alpha = alpha[top:bottom, left:right]
    colours = estimate_foreground(crop_rgb, crop_alpha)
    a8 = np.rint(crop_alpha * 255).astype(np.uint8)
    # Fully transparent pixels carry no colour: nothing shows there, and a PNG of the cutout then
    # compresses them to nothing (a 12-MP transparent output 548 -> 197 KB, its encode 42 -> 27 ms).
    colours[a8 == 0] = 0
    rgba = cv2.cvtColor(colours, cv2.COLOR_RGB2RGBA)
    rgba[:, :, 3] = a8
    h, w = rgb.shape[:2]
    return Cutout(
        image=Image.fromarray(rgba, "RGBA"),
        canvas=(w, h),
        box=(left, top),
        hard_photo=hard,
        reason=reason,
        confidence=round(confidence, 3),
        segmenter=name,
    )


def cutout(data: bytes, *, segmenter: Segmenter | None = None) -> Cutout:
    """Decode a photo and separate the product once; compose every style from the result."""
    return cutout_image(decode(data, max_side=WORK_MAX_SIDE), segmenter=segmenter)


def compose_outputs(
    cut: Cutout, style: str = "white", size: str = "original", *, alpha_format: str = "png"
) -> list[Output]:
    """Style and size a cutout (cheap: no segmentation). Raises InvalidOption for unknown names."""
    parsed = parse_style(style)
    canvas = parse_size(size)
    image = compose(cut, parsed, canvas)
    stem = f"{parsed.name.replace(':', '-')}-{size.strip().lower()}"
    return [encode(image, stem, alpha_format=alpha_format)]


def render(
    data: bytes, style: str = "white", size: str = "original", *, segmenter: Segmenter | None = None
) -> list[Output]:
    """Decode, segment, compose and encode one photo."""
    parse_style(style)
    parse_size(size)
    return compose_outputs(cutout(data, segmenter=segmenter), style, size)
