"""One interface for every segmentation backend, and the choice between them.

A backend's `predict` maps RGB uint8 arrays to coarse float mattes in [0, 1] at any resolution of
the same framing; `render.matte` refines them at full resolution. The torch U^2-Net and IS-Net
backends are the only ones that import torch; the onnxruntime U^2-Net and the classical one need
OpenCV (and onnxruntime) only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from render.errors import WeightsError

if TYPE_CHECKING:
    from render.isnet import ISNetDIS
    from render.onnx_runner import OnnxNetwork
    from render.u2net import U2Net

log = logging.getLogger(__name__)

INPUT_SIDE = 320
BATCH = 8
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)


@runtime_checkable
class Segmenter(Protocol):
    name: str

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]: ...


def _network_inputs(images: Sequence[np.ndarray]) -> np.ndarray:
    """The U^2-Net input batch (N x 3 x 320 x 320 float32): each photo resized once, from the decoded
    working image, by pixel-area averaging; scaled by its own maximum; ImageNet-normalised."""
    import cv2

    batch = np.empty((len(images), INPUT_SIDE, INPUT_SIDE, 3), np.float32)
    for i, image in enumerate(images):
        small = cv2.resize(image, (INPUT_SIDE, INPUT_SIDE), interpolation=cv2.INTER_AREA).astype(np.float32)
        small /= max(float(small.max()), 1.0)
        batch[i] = (small - _MEAN) / _STD
    return batch.transpose(0, 3, 1, 2)


class OnnxU2NetSegmenter:
    """A published U^2-Net export run by onnxruntime on the CPU (render.onnx_runner). It needs neither
    torch nor the converted state dict: a CPU worker that runs it never imports torch, which kept
    ~400 MB of a worker's peak RSS (the torch library and a second copy of the weights)."""

    def __init__(self, onnx: OnnxNetwork, *, name: str = "u2netp") -> None:
        self.name = name
        self.onnx = onnx

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(images), BATCH):
            batch = _network_inputs(images[start : start + BATCH])
            maps = self.onnx(np.ascontiguousarray(batch))
            lo = maps.min(axis=(1, 2), keepdims=True)
            hi = maps.max(axis=(1, 2), keepdims=True)
            out.extend((maps - lo) / np.maximum(hi - lo, 1e-6))
        return out


class U2NetSegmenter:
    """A U^2-Net in torch: batches through the network together, inference mode, channels_last, on CUDA
    when present, otherwise the CPU (where `load_segmenter` prefers OnnxU2NetSegmenter when it can)."""

    def __init__(self, model: U2Net, *, name: str = "u2netp", device: str | None = None) -> None:
        import torch

        self.name = name
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.eval().to(self.device)
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.onnx = None

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(images), BATCH):
            out.extend(self._batch(images[start : start + BATCH]))
        return out

    def _batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch

        batch = torch.from_numpy(np.ascontiguousarray(_network_inputs(images)))
        batch = batch.to(self.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            pred = self.model(batch)[:, 0].float()
            lo = pred.amin(dim=(1, 2), keepdim=True)
            hi = pred.amax(dim=(1, 2), keepdim=True)
            pred = (pred - lo) / (hi - lo).clamp_min(1e-6)
            return [m.copy() for m in pred.cpu().numpy()]


class ISNetSegmenter:
    """An IS-Net (DIS) in torch, run as its reference inference does: bilinear resize to a square
    `input_side` (1024 in production), [0, 1] minus 0.5 over 1.0, the side1 map resized back to each
    image's size and min-max normalised. Small batches: one 1024 px image needs ~1 GB of activations."""

    batch = 2

    def __init__(
        self, model: ISNetDIS, *, input_side: int | None = None, name: str = "isnet", device: str | None = None
    ) -> None:
        import torch

        from render.isnet import INPUT_SIDE

        self.name = name
        self.input_side = input_side or INPUT_SIDE
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.eval().to(self.device)
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for start in range(0, len(images), self.batch):
            out.extend(self._batch(images[start : start + self.batch]))
        return out

    def _batch(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        import torch
        import torch.nn.functional as F

        from render.isnet import MEAN, STD

        side = (self.input_side, self.input_side)
        with torch.inference_mode():
            squares = []
            for image in images:
                pixels = torch.from_numpy(np.array(image[..., :3], dtype=np.uint8, copy=True)).to(self.device)
                pixels = pixels.permute(2, 0, 1)[None].float()
                squares.append(F.interpolate(pixels, size=side, mode="bilinear", align_corners=False).floor_())
            batch = torch.cat(squares).div_(255.0).sub_(MEAN).div_(STD)
            pred = self.model(batch.contiguous(memory_format=torch.channels_last)).float()
            out = []
            for i, image in enumerate(images):
                m = F.interpolate(pred[i : i + 1], size=image.shape[:2], mode="bilinear", align_corners=False)[0, 0]
                m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-6)
                out.append(m.cpu().numpy().astype(np.float32, copy=True))
            return out


def _runs_on_cpu(device: str | None) -> bool:
    if device is not None:
        return device == "cpu"
    if not cuda_possible():
        return True
    import torch

    return not torch.cuda.is_available()


def cuda_possible() -> bool:
    """Whether an NVIDIA driver is there at all, asked without importing torch: when it is not, torch
    could not use CUDA either, and a CPU worker need not pay for importing it to find that out.
    (/dev/dxg: WSL2's GPU bridge, which has no /proc/driver/nvidia.)"""
    gpus = Path("/proc/driver/nvidia/gpus")
    return (gpus.is_dir() and any(gpus.iterdir())) or Path("/dev/nvidiactl").exists() or Path("/dev/dxg").exists()


def default_models_dir() -> Path:
    return Path(os.environ.get("NEXORAZ_MODELS_DIR") or "./data/models")


def load_segmenter(
    kind: str = "auto",
    models_dir: Path | None = None,
    weights: Path | None = None,
    *,
    device: str | None = None,
    input_side: int | None = None,
    onnx: bool = True,
    threads: int | None = None,
) -> Segmenter:
    """`auto`: u2netp when its converted weights are present, else the classical fallback (logged).
    `u2netp`: those weights or WeightsError; `u2net`: the full U^2-Net (`models fetch --model u2net`).
    `classical`. `custom`: `weights`, loaded strictly: an
    IS-Net state dict (official DIS layout) or a U^2-Net one (u2netp or full, folded or with
    BatchNorm). `input_side` overrides the IS-Net's square input (1024, what it was trained at).
    On the CPU a published model runs through onnxruntime when its export is there (faster, and no
    torch in the process); `onnx=False` keeps it on torch (for measuring the two). `threads`: the
    onnxruntime session's threads (its default: the machine's cores)."""
    from render.classical import ClassicalSegmenter
    from render.onnx_runner import onnx_network
    from render.weights import (
        is_fetched,
        isnet_from_state,
        load_weights,
        read_state_dict,
        u2net_from_state,
        weights_path,
    )

    directory = models_dir or default_models_dir()
    if kind == "classical":
        return ClassicalSegmenter()
    if kind == "custom":
        if weights is None:
            raise WeightsError("the custom segmenter needs a weights file")
        from render.isnet import looks_like_isnet

        state = read_state_dict(weights, require_checksum=False)
        if looks_like_isnet(state):
            isnet = ISNetSegmenter(isnet_from_state(state, weights.name), input_side=input_side, device=device)
            log.info("custom segmenter: IS-Net from %s, %d px input", weights, isnet.input_side)
            return isnet
        return U2NetSegmenter(u2net_from_state(state, weights.name), name="custom", device=device)
    if kind in ("u2net", "u2netp") or (kind == "auto" and is_fetched(directory)):
        model = "u2net" if kind == "u2net" else "u2netp"
        if onnx and _runs_on_cpu(device):
            fast = onnx_network(directory, model, threads=threads)
            if fast is not None:
                return OnnxU2NetSegmenter(fast, name=model)  # the only copy of the network this worker loads
        return U2NetSegmenter(load_weights(weights_path(directory, model)), name=model, device=device)
    if kind == "auto":
        log.warning("no u2netp weights in %s: using the classical segmenter (run `models fetch`)", directory)
        return ClassicalSegmenter()
    raise WeightsError(f"unknown segmenter kind {kind!r}")
