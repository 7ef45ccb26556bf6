"""Encoders chosen for speed and size: JPEG for opaque results, PNG (fast level) or WebP for alpha.

Every encoder is handed a fresh image and no metadata arguments, so nothing from the upload leaks out.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

JPEG_QUALITY = 92
PNG_COMPRESS_LEVEL = 2
WEBP_QUALITY = 90


@dataclass(frozen=True, slots=True)
class Output:
    """One rendered file: a suggested file name, its MIME type and its bytes."""

    name: str
    mime: str
    data: bytes


def encode_jpeg(image: Image.Image) -> bytes:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    rgb.info = {}
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling="4:2:0", optimize=False, progressive=False)
    return buf.getvalue()


def encode_png(image: Image.Image) -> bytes:
    image.info = {}
    buf = io.BytesIO()
    image.save(buf, "PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def encode_webp(image: Image.Image) -> bytes:
    image.info = {}
    buf = io.BytesIO()
    image.save(buf, "WEBP", quality=WEBP_QUALITY, method=2, exact=False)
    return buf.getvalue()


def encode(image: Image.Image, stem: str, *, alpha_format: str = "png") -> Output:
    """Encode for delivery: opaque -> JPEG; alpha -> PNG (default) or WebP."""
    if image.mode == "RGBA":
        if alpha_format == "webp":
            return Output(f"{stem}.webp", "image/webp", encode_webp(image))
        return Output(f"{stem}.png", "image/png", encode_png(image))
    return Output(f"{stem}.jpg", "image/jpeg", encode_jpeg(image))
