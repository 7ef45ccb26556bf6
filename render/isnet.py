"""IS-Net (DIS: "Highly Accurate Dichotomous Image Segmentation", Qin et al. 2022) in torch.

Written for this project from the paper's architecture; the module and parameter names follow the
official xuebinqin/DIS `models/isnet.py` (`conv_in`, `stage1` ... `stage6`, `stage5d` ... `stage1d`,
`side1` ... `side6`, and inside each block `rebnconvin`, `rebnconvN`, `rebnconvNd`, each a conv
`conv_s1` + BatchNorm `bn_s1`), so the published state dicts (isnet.pth, isnet-general-use.pth)
load with `load_state_dict(strict=True)`. Unlike the u2netp export, BatchNorm is kept as trained.

The network is fully convolutional: it was trained at INPUT_SIDE x INPUT_SIDE with inputs scaled to
[0, 1], minus MEAN, divided by STD; the segmenter resizes to its `input_side` (smaller in tests).
Only the segmenter imports this module, lazily: it loads torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIDE = 1024
MEAN = 0.5
STD = 1.0


class REBNConv(nn.Module):
    """3x3 conv (dilated), BatchNorm, ReLU."""

    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv_s1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.bn_s1 = nn.BatchNorm2d(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn_s1(self.conv_s1(x)), inplace=True)


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of `depth` levels (RSU-7 ... RSU-4): pooled encoder, innermost conv dilated
    by 2. `flat` gives RSU-4F: no pooling, dilations 1, 2, 4, 8 down and 4, 2, 1 up."""

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int, *, flat: bool = False) -> None:
        super().__init__()
        self.flat = flat
        dilations = [1, 2, 4, 8] if flat else [1] * (depth - 1) + [2]
        self.rebnconvin = REBNConv(in_ch, out_ch)
        self._enc: list[REBNConv] = []
        for i, d in enumerate(dilations, 1):
            self._enc.append(self._add(f"rebnconv{i}", REBNConv(out_ch if i == 1 else mid_ch, mid_ch, d)))
        self._dec: list[REBNConv] = []
        for i in range(len(dilations) - 1, 0, -1):
            d = dilations[i - 1] if flat else 1
            self._dec.append(self._add(f"rebnconv{i}d", REBNConv(mid_ch * 2, out_ch if i == 1 else mid_ch, d)))

    def _add(self, name: str, layer: REBNConv) -> REBNConv:
        self.add_module(name, layer)
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.rebnconvin(x)
        skips = []
        h = x_in
        for i, layer in enumerate(self._enc[:-1]):
            if i > 0 and not self.flat:
                h = _pool(h)
            h = layer(h)
            skips.append(h)
        h = self._enc[-1](h)
        for layer, skip in zip(self._dec, reversed(skips), strict=True):
            if h.shape[2:] != skip.shape[2:]:
                h = _up(h, skip)
            h = layer(torch.cat((h, skip), 1))
        out: torch.Tensor = h + x_in
        return out


Spec = tuple[int, int, int, int]  # (depth, in, mid, out); depth 0 = RSU-4F

ENCODER: tuple[Spec, ...] = (
    (7, 64, 32, 64),
    (6, 64, 32, 128),
    (5, 128, 64, 256),
    (4, 256, 128, 512),
    (0, 512, 256, 512),
    (0, 512, 256, 512),
)
DECODER: tuple[Spec, ...] = (  # stage5d ... stage1d
    (0, 1024, 256, 512),
    (4, 1024, 128, 256),
    (5, 512, 64, 128),
    (6, 256, 32, 64),
    (7, 128, 16, 64),
)
SIDES = (64, 64, 128, 256, 512, 512)  # side1 reads stage1d ... side6 reads stage6


def _block(spec: Spec) -> RSU:
    depth, in_ch, mid_ch, out_ch = spec
    return RSU(4, in_ch, mid_ch, out_ch, flat=True) if depth == 0 else RSU(depth, in_ch, mid_ch, out_ch)


class ISNetDIS(nn.Module):
    """The IS-Net segmentation network: a stride-2 stem conv, six encoder stages, five decoder
    stages and six side outputs; the finest side output (side1) is the prediction."""

    def __init__(self) -> None:
        super().__init__()
        self.conv_in = nn.Conv2d(3, 64, 3, stride=2, padding=1)
        self._encoder = [self._add(f"stage{i}", _block(s)) for i, s in enumerate(ENCODER, 1)]
        self._decoder = [self._add(f"stage{5 - i}d", _block(s)) for i, s in enumerate(DECODER)]
        self._sides: list[nn.Conv2d] = []
        for i, channels in enumerate(SIDES, 1):
            side = nn.Conv2d(channels, 1, 3, padding=1)
            self.add_module(f"side{i}", side)
            self._sides.append(side)

    def _add(self, name: str, block: RSU) -> RSU:
        self.add_module(name, block)
        return block

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Sigmoid of the six side maps at the input's size, finest (side1) first."""
        feats = []
        h = self.conv_in(x)
        for i, stage in enumerate(self._encoder):
            if i > 0:
                h = _pool(h)
            h = stage(h)
            feats.append(h)
        decoded = [h]  # stage6, then 5d, 4d, 3d, 2d, 1d
        for stage, skip in zip(self._decoder, reversed(feats[:-1]), strict=True):
            h = stage(torch.cat((_up(h, skip), skip), 1))
            decoded.append(h)
        maps = [self._sides[k](decoded[5 - k]) for k in range(6)]
        return [torch.sigmoid(_up(m, x)) for m in maps]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[0]


def looks_like_isnet(state: Mapping[str, torch.Tensor]) -> bool:
    """An IS-Net state dict rather than a U^2-Net one: it has the stride-2 stem `conv_in` (or its
    stage1 reads 64 channels rather than the image's 3) and no U^2-Net fusion conv `outconv`.
    Deliberately loose, so a damaged IS-Net file still reaches the strict loader and its report."""
    if any(key.startswith("outconv.") for key in state):
        return False
    if any(key.startswith("conv_in.") for key in state):
        return True
    first = state.get("stage1.rebnconvin.conv_s1.weight")
    return first is not None and first.dim() == 4 and first.shape[1] == 64
