"""Compositing: golden properties of every style and size, serialisation, metadata hygiene."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

import render
from render.cutouts import Cutout


def _cutout(w: int = 300, h: int = 500) -> Cutout:
    img = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    ImageDraw.Draw(img).rounded_rectangle((0, 0, w - 1, h - 1), radius=20, fill=(200, 30, 40, 255))
    return Cutout(img, canvas=(1600, 1200), box=(100, 100), hard_photo=False, reason=None, confidence=0.9)


def _open(out: render.Output) -> Image.Image:
    return Image.open(io.BytesIO(out.data))


@pytest.mark.parametrize("size", [s for s in render.SIZES if s != "original"])
def test_white_sizes_corners_and_fill(size: str) -> None:
    (out,) = render.compose_outputs(_cutout(), "white", size)
    img = _open(out)
    assert out.mime == "image/jpeg" and img.size == render.SIZES[size]
    rgb = np.asarray(img.convert("RGB")).astype(int)
    for y, x in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        assert tuple(rgb[y, x]) == (255, 255, 255)
    assert (rgb[:8, :8] == 255).all()
    dark = (rgb.sum(-1) < 500).nonzero()
    height = dark[0].max() - dark[0].min() + 1
    width = dark[1].max() - dark[1].min() + 1
    fill = max(height / img.size[1], width / img.size[0])
    assert 0.82 <= fill <= 0.87


@settings(max_examples=15, deadline=None)
@given(w=st.integers(10, 900), h=st.integers(10, 900), size=st.sampled_from(list(render.SIZES)))
def test_any_product_fits_centered(w: int, h: int, size: str) -> None:
    (out,) = render.compose_outputs(_cutout(w, h), "transparent", size)
    img = _open(out)
    assert img.mode == "RGBA" and out.mime == "image/png"
    if size != "original":
        assert img.size == render.SIZES[size]
        box = img.getchannel("A").getbbox()
        assert box is not None
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        assert abs(cx - img.size[0] / 2) <= 2 and abs(cy - img.size[1] / 2) <= 2
        fill = max((box[2] - box[0]) / img.size[0], (box[3] - box[1]) / img.size[1])
        assert 0.83 <= fill <= 0.86
    else:
        assert max(img.size) <= 2048


def test_original_size_keeps_photo_proportions() -> None:
    (out,) = render.compose_outputs(_cutout(), "white", "original")
    assert _open(out).size == (1600, 1200)


@pytest.mark.parametrize("style", [*render.STYLES, "color:#12ab34", "COLOR:12AB34"])
def test_every_style_renders_without_metadata(style: str) -> None:
    (out,) = render.compose_outputs(_cutout(), style, "square")
    img = _open(out)
    assert img.size == (1080, 1080)
    assert not img.getexif() and "xmp" not in img.info and "icc_profile" not in img.info
    assert out.name.endswith(("-square.jpg", "-square.png"))


def test_color_style_background() -> None:
    (out,) = render.compose_outputs(_cutout(), "color:#12ab34", "square")
    r, g, b = _open(out).convert("RGB").getpixel((3, 3))  # type: ignore[misc]
    assert abs(r - 0x12) <= 3 and abs(g - 0xAB) <= 3 and abs(b - 0x34) <= 3


def test_invalid_names() -> None:
    for bad in ("purple-ish", "color:#12", "color:nope", ""):
        assert not render.is_valid_style(bad)
        with pytest.raises(render.InvalidOption) as info:
            render.compose_outputs(_cutout(), bad, "square")
        assert info.value.code == "invalid_option"
    assert not render.is_valid_size("huge")
    with pytest.raises(render.InvalidOption):
        render.compose_outputs(_cutout(), "white", "huge")


def test_cutout_roundtrip() -> None:
    cut = _cutout()
    back = Cutout.from_bytes(cut.to_bytes())
    assert back.canvas == cut.canvas and back.box == cut.box and back.confidence == cut.confidence
    assert np.array_equal(np.asarray(back.image), np.asarray(cut.image))
    assert (
        render.compose_outputs(back, "white", "square")[0].data
        == render.compose_outputs(cut, "white", "square")[0].data
    )
    with pytest.raises(render.UnreadableImage):
        Cutout.from_bytes(b"junk")
    plain = io.BytesIO()
    Image.new("RGBA", (20, 20)).save(plain, "PNG")
    with pytest.raises(render.UnreadableImage):
        Cutout.from_bytes(plain.getvalue())
