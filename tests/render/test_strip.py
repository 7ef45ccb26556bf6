"""Stored uploads lose their metadata without a re-encode (render/strip.py): the same pixels, no EXIF, GPS,
XMP, comments or appended images; a turned photo is left to the re-encode that bakes the turn in."""

from __future__ import annotations

import io
import random

import numpy as np
from PIL import Image, ImageCms

from bot.render_task import _pixels_only
from render.strip import strip_jpeg

GPS_IFD, ORIENTATION = 0x8825, 0x0112


def _phone_jpeg(*, orientation: int = 1, progressive: bool = False) -> bytes:
    rng = np.random.default_rng(7)
    pixels = (rng.random((240, 320, 3)) * 255).astype("uint8")
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD)[2] = (23.0, 48.0, 36.0)  # Dhaka
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.fromarray(pixels).save(
        out, "JPEG", quality=90, exif=exif, icc_profile=icc, progressive=progressive, comment=b"shop secret"
    )
    xmp = b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>GPSLatitude 23.8</x:xmpmeta>"
    data = out.getvalue()
    app1 = b"\xff\xe1" + (len(xmp) + 2).to_bytes(2, "big") + xmp
    return data[:2] + app1 + data[2:] + b"\xff\xd8SECOND-IMAGE-Exif-GPS\xff\xd9"  # MPF-like trailer


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_metadata_goes_and_every_pixel_stays() -> None:
    for progressive in (False, True):
        photo = _phone_jpeg(progressive=progressive)
        stripped = strip_jpeg(photo)
        assert stripped is not None
        assert np.array_equal(_pixels(stripped), _pixels(photo))
        image = Image.open(io.BytesIO(stripped))
        assert not image.getexif() and "icc_profile" in image.info  # the colours are described as before
        for leak in (b"Exif", b"PhoneMaker", b"xmpmeta", b"shop secret", b"SECOND-IMAGE"):
            assert leak not in stripped, leak


def test_a_turned_photo_is_re_encoded_upright() -> None:
    photo = _phone_jpeg(orientation=6)  # the phone was held upright: the pixels lie on their side
    assert strip_jpeg(photo) is None
    mime, stored = _pixels_only(photo)
    image = Image.open(io.BytesIO(stored))
    assert mime == "image/jpeg" and image.size == (240, 320) and not image.getexif()
    assert b"PhoneMaker" not in stored and b"SECOND-IMAGE" not in stored


def test_the_upload_kept_for_an_ordinary_photo_is_the_stripped_original() -> None:
    photo = _phone_jpeg()
    assert _pixels_only(photo) == ("image/jpeg", strip_jpeg(photo))


def test_broken_jpegs_never_raise() -> None:
    photo = _phone_jpeg()
    rng = random.Random(3)
    for _ in range(400):
        mutated = bytearray(photo)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        cut = bytes(mutated[: rng.randrange(2, len(mutated) + 1)])
        result = strip_jpeg(cut)
        assert result is None or result.startswith(b"\xff\xd8")
    assert strip_jpeg(b"") is None and strip_jpeg(b"\xff\xd8") is None and strip_jpeg(b"GIF89a") is None
