"""Decode safety: every awkward input kind, built here."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

import render
from render.decoding import decode


def _save(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def _photo(w: int = 64, h: int = 48) -> Image.Image:
    arr = np.zeros((h, w, 3), np.uint8)
    arr[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    arr[..., 1] = 120
    arr[: h // 4, : w // 4] = (255, 0, 0)  # a red mark in the top-left corner
    return Image.fromarray(arr)


def test_import_does_not_load_torch() -> None:
    code = "import render, sys; assert 'torch' not in sys.modules; assert 'cv2' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    code = "import render, sys; assert not any(m.split('.')[0] in ('bot', 'handlers', 'storage') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)
    # The public names load on first use (numpy too), and each is what it names, whatever was imported first.
    code = (
        "import render, render.cutouts, render.decoding, render.api, sys; assert 'numpy' in sys.modules;"
        "assert callable(render.cutout) and callable(render.decode) and callable(render.render);"
        "assert all(getattr(render, name) is not None for name in render.__all__);"
        "assert sorted(render.__all__) == sorted(render._HOME)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_common_formats(fmt: str) -> None:
    out = decode(_save(_photo(), fmt))
    assert out.mode == "RGB" and out.size == (64, 48)
    assert out.getpixel((2, 2))[0] > 200  # type: ignore[index]


def test_heic() -> None:
    import pillow_heif

    heif = pillow_heif.from_pillow(_photo())
    buf = io.BytesIO()
    heif.save(buf, quality=90)
    out = decode(buf.getvalue())
    assert out.size == (64, 48) and out.mode == "RGB"


def test_gif_and_animated_webp_first_frame() -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    gif = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    webp = _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], duration=100, lossless=True)
    for data in (gif, webp):
        px = decode(data).convert("RGB").getpixel((16, 16))
        assert px[0] > 200 and px[2] < 50  # type: ignore[index]


def test_exif_orientation_applied_and_metadata_dropped() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    exif[0x010F] = "PhoneMaker"
    gps = {1: "N", 2: (23.0, 48.0, 0.0)}
    exif[0x8825] = gps
    data = _save(_photo(), "JPEG", exif=exif.tobytes(), xmp=b"<x:xmpmeta>secret</x:xmpmeta>")
    out = decode(data)
    assert out.size == (48, 64)
    assert out.getpixel((47 - 2, 2))[0] > 200  # type: ignore[index]  # the red corner moved to the top right
    assert not out.info and not out.getexif()


def test_cmyk_jpeg() -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # pure red in CMYK
    out = decode(_save(cmyk, "JPEG"))
    r, g, b = out.getpixel((16, 16))  # type: ignore[misc]
    assert out.mode == "RGB" and r > 200 and g < 60 and b < 60


def test_sixteen_bit_scaled_not_clipped() -> None:
    arr = np.array([[0, 32768, 65535, 1000]], np.uint16).repeat(16, 0).repeat(4, 1)
    img = Image.fromarray(arr)
    out = np.asarray(decode(_save(img, "PNG")))
    row = out[0, ::4, 0]
    assert list(row) == [0, 128, 255, 4]


def test_palette_with_transparency_and_la() -> None:
    pal = Image.new("P", (32, 32), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    pal.paste(1, (0, 0, 16, 32))
    out = decode(_save(pal, "PNG", transparency=0))
    assert out.mode == "RGBA"
    assert out.getpixel((24, 5))[3] == 0 and out.getpixel((4, 5))[3] == 255  # type: ignore[index]
    la = Image.new("LA", (32, 32), (128, 0))
    la.paste((200, 255), (0, 0, 16, 32))
    assert decode(_save(la, "PNG")).mode == "RGBA"
    assert decode(_save(Image.new("RGBA", (32, 32), (1, 2, 3, 255)), "PNG")).mode == "RGB"


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_rejected(fmt: str) -> None:
    rng = np.random.default_rng(1)
    data = _save(Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)), fmt)
    with pytest.raises(render.UnreadableImage) as info:
        decode(data[: len(data) // 2])
    assert info.value.code == "unreadable"


def test_garbage_and_unsupported() -> None:
    with pytest.raises(render.UnreadableImage):
        decode(b"hello, this is not an image at all")
    with pytest.raises(render.UnsupportedFormat) as info:
        decode(_save(_photo(), "BMP"))
    assert info.value.code == "unsupported"
    with pytest.raises(render.UnsupportedFormat):
        decode(_save(_photo(), "TIFF"))


def _png_with_header_size(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims width x height: only the header is real."""
    data = bytearray(_save(Image.new("L", (8, 8)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("size", [(8000, 6000), (20000, 20000), (100000, 100000)])
def test_pixel_cap_checked_before_pixels(size: tuple[int, int]) -> None:
    with pytest.raises(render.ImageTooLarge) as info:
        decode(_png_with_header_size(*size))
    assert info.value.code == "too_large"


def test_decompression_bomb_warning_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(render.ImageTooLarge):
        decode(_save(_photo(), "PNG"))  # 3072 px: over Pillow's (lowered) bomb threshold


def test_too_small_and_max_side() -> None:
    with pytest.raises(render.ImageTooSmall):
        decode(_save(Image.new("RGB", (8, 8)), "PNG"))
    big = _save(_photo(4000, 3000), "JPEG")
    out = decode(big, max_side=2048)
    assert max(out.size) <= 2048 and max(out.size) >= 1536
