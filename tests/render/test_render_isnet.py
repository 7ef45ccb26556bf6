"""IS-Net as an operator's custom segmenter: strict round trip, key errors, the predict contract.

The network runs at a 256 px input here (production: 1024, as trained) to keep the tests fast.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from render_evalset import make_sample

import render
from render.isnet import ISNetDIS, looks_like_isnet
from render.segmenter import ISNetSegmenter

SIDE = 256


def _random_isnet() -> ISNetDIS:
    torch.manual_seed(11)
    model = ISNetDIS().eval()
    with torch.no_grad():
        for module in model.modules():  # trained-looking BatchNorm, so its buffers matter
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    return model


@pytest.fixture(scope="module")
def original() -> ISNetDIS:
    return _random_isnet()


@pytest.fixture(scope="module")
def saved(original: ISNetDIS, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("isnet") / "isnet-random.pth"
    torch.save(original.state_dict(), path)  # as the DIS repository publishes it: a bare state dict
    return path


@pytest.fixture(scope="module")
def segmenter(saved: Path) -> ISNetSegmenter:
    seg = render.load_segmenter("custom", weights=saved, input_side=SIDE, device="cpu")
    assert isinstance(seg, ISNetSegmenter)
    return seg


def test_published_size() -> None:
    """isnet-general-use.pth is a 44.0 M parameter network."""
    count = sum(p.numel() for p in ISNetDIS().parameters())
    assert 43_500_000 < count < 44_500_000


def test_round_trip_is_exact(original: ISNetDIS, segmenter: ISNetSegmenter) -> None:
    assert segmenter.name == "isnet" and segmenter.input_side == SIDE
    loaded = segmenter.model.state_dict()
    assert all(torch.equal(v, loaded[k]) for k, v in original.state_dict().items())
    image = make_sample("textured", "ring").image
    reference = ISNetSegmenter(_random_isnet(), input_side=SIDE, device="cpu")
    assert np.array_equal(segmenter.predict([image])[0], reference.predict([image])[0])
    x = torch.rand(1, 3, 96, 128).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.equal(segmenter.model.forward_all(x)[5], reference.model.forward_all(x)[5])


def _bad(tmp_path: Path, state: dict[str, torch.Tensor], name: str) -> str:
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    with pytest.raises(render.WeightsError) as info:
        render.load_segmenter("custom", weights=path, input_side=SIDE, device="cpu")
    return info.value.detail


def test_wrong_key_set_is_an_error(original: ISNetDIS, tmp_path: Path) -> None:
    state = original.state_dict()
    key = "stage3.rebnconv2.conv_s1.weight"
    removed = {k: v for k, v in state.items() if k != key}
    assert "missing keys: " + key in _bad(tmp_path, removed, "removed")
    renamed = {k.replace("side1.", "side_1."): v for k, v in state.items()}
    detail = _bad(tmp_path, renamed, "renamed")
    assert "missing keys: side1.bias, side1.weight" in detail and "unexpected keys: side_1.bias" in detail
    extra = {**state, "outconv2.weight": torch.zeros(1, 6, 1, 1)}
    assert "unexpected keys: outconv2.weight" in _bad(tmp_path, extra, "extra")
    shaped = {**state, "side3.weight": torch.zeros(1, 64, 3, 3)}
    assert "wrong shapes: side3.weight (1, 64, 3, 3) != (1, 128, 3, 3)" in _bad(tmp_path, shaped, "shape")


def test_checkpoint_without_batch_counters_loads(original: ISNetDIS, tmp_path: Path) -> None:
    state = {k: v for k, v in original.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    seg = render.load_segmenter("custom", weights=path, input_side=SIDE, device="cpu")
    assert isinstance(seg, ISNetSegmenter)


def test_recognised_by_its_keys(original: ISNetDIS) -> None:
    state = original.state_dict()
    assert looks_like_isnet(state)
    assert looks_like_isnet({k: v for k, v in state.items() if not k.startswith("conv_in.")})
    # The official U^2-Net checkpoint shares the stage names, reads the image in stage1, and fuses.
    u2net = {k: v for k, v in state.items() if not k.startswith("conv_in.")}
    u2net["stage1.rebnconvin.conv_s1.weight"] = torch.zeros(64, 3, 3, 3)
    assert not looks_like_isnet(u2net)
    assert not looks_like_isnet({**u2net, "conv_in.weight": torch.zeros(1), "outconv.weight": torch.zeros(1)})
    from render.u2net import U2NetP

    assert not looks_like_isnet(U2NetP().state_dict())


def test_predict_contract_two_sizes_in_one_batch(segmenter: ISNetSegmenter) -> None:
    images = [make_sample("colored", "mug").image, make_sample("dark", "star").image[:150, :230]]
    assert images[0].shape != images[1].shape
    together = segmenter.predict(images)
    assert len(together) == 2
    for image, matte in zip(images, together, strict=True):
        assert matte.dtype == np.float32 and matte.shape == image.shape[:2]
        assert float(matte.min()) >= 0.0 and float(matte.max()) <= 1.0 and float(matte.max()) > 0.5
    assert np.abs(segmenter.predict([images[1]])[0] - together[1]).max() < 1e-4  # batch == alone
    alpha = render.segment(Image.fromarray(images[1]), segmenter=segmenter)
    assert alpha.mode == "L" and alpha.size == (230, 150)


def test_import_render_does_not_import_torch() -> None:
    code = "import sys, render; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
