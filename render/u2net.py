"""U^2-Net-p in torch, in the BatchNorm-folded form of the published u2netp export.

Every conv carries its bias and is followed by ReLU (the BatchNorm of the training graph is folded
into it). Modules are declared in the order the forward pass runs them, so `conv_layers()` lists the
convolutions in the same order as the Conv nodes of the ONNX graph; weights are mapped by that order.
Only this module (and the guided filter) touch torch; it is imported lazily by the segmenter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvReLU(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x), inplace=True)


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[2:], mode="bilinear", align_corners=False)


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of `depth` levels; the innermost conv is dilated by 2."""

    def __init__(self, depth: int, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.depth = depth
        self.conv_in = ConvReLU(in_ch, out_ch)
        self.enc = nn.ModuleList([ConvReLU(out_ch, mid_ch)] + [ConvReLU(mid_ch, mid_ch) for _ in range(depth - 2)])
        self.bottom = ConvReLU(mid_ch, mid_ch, dilation=2)
        self.dec = nn.ModuleList(
            [ConvReLU(mid_ch * 2, mid_ch) for _ in range(depth - 2)] + [ConvReLU(mid_ch * 2, out_ch)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        skips = []
        h = x_in
        for i, layer in enumerate(self.enc):
            if i > 0:
                h = _pool(h)
            h = layer(h)
            skips.append(h)
        h = self.bottom(h)
        for layer, skip in zip(self.dec, reversed(skips), strict=True):
            if h.shape[2:] != skip.shape[2:]:
                h = _up(h, skip)
            h = layer(torch.cat((h, skip), 1))
        out: torch.Tensor = h + x_in
        return out


class RSUF(nn.Module):
    """The flat residual block: dilations 1, 2, 4, 8 instead of pooling."""

    def __init__(self, in_ch: int, mid_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv_in = ConvReLU(in_ch, out_ch)
        self.enc = nn.ModuleList(
            [ConvReLU(out_ch, mid_ch, 1), ConvReLU(mid_ch, mid_ch, 2), ConvReLU(mid_ch, mid_ch, 4)]
        )
        self.bottom = ConvReLU(mid_ch, mid_ch, 8)
        self.dec = nn.ModuleList(
            [
                ConvReLU(mid_ch * 2, mid_ch, 4),
                ConvReLU(mid_ch * 2, mid_ch, 2),
                ConvReLU(mid_ch * 2, out_ch, 1),
            ]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        skips = []
        h = x_in
        for layer in self.enc:
            h = layer(h)
            skips.append(h)
        h = self.bottom(h)
        for layer, skip in zip(self.dec, reversed(skips), strict=True):
            h = layer(torch.cat((h, skip), 1))
        out: torch.Tensor = h + x_in
        return out


Spec = tuple[int, int, int, int]  # (depth, in, mid, out); depth 0 = the flat block


def _block(spec: Spec) -> nn.Module:
    depth, in_ch, mid_ch, out_ch = spec
    return RSUF(in_ch, mid_ch, out_ch) if depth == 0 else RSU(depth, in_ch, mid_ch, out_ch)


SMALL: tuple[tuple[Spec, ...], tuple[Spec, ...], tuple[int, ...]] = (
    ((7, 3, 16, 64), (6, 64, 16, 64), (5, 64, 16, 64), (4, 64, 16, 64), (0, 64, 16, 64), (0, 64, 16, 64)),
    ((0, 128, 16, 64), (4, 128, 16, 64), (5, 128, 16, 64), (6, 128, 16, 64), (7, 128, 16, 64)),
    (64, 64, 64, 64, 64, 64),
)
FULL: tuple[tuple[Spec, ...], tuple[Spec, ...], tuple[int, ...]] = (
    (
        (7, 3, 32, 64),
        (6, 64, 32, 128),
        (5, 128, 64, 256),
        (4, 256, 128, 512),
        (0, 512, 256, 512),
        (0, 512, 256, 512),
    ),
    ((0, 1024, 256, 512), (4, 1024, 128, 256), (5, 512, 64, 128), (6, 256, 32, 64), (7, 128, 16, 64)),
    (64, 64, 128, 256, 512, 512),
)


class U2Net(nn.Module):
    """U^2-Net: six encoder stages, five decoder stages, six side outputs, fused (u2netp or full)."""

    def __init__(self, config: tuple[tuple[Spec, ...], tuple[Spec, ...], tuple[int, ...]] = SMALL) -> None:
        super().__init__()
        encoder, decoder, sides = config
        self.encoder = nn.ModuleList([_block(s) for s in encoder])
        self.decoder = nn.ModuleList([_block(s) for s in decoder])
        self.sides = nn.ModuleList([nn.Conv2d(c, 1, 3, padding=1) for c in sides])
        self.fuse = nn.Conv2d(6, 1, 1)

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Sigmoid of the fused map and of the six side maps (the export's seven outputs, in order)."""
        feats = []
        h = x
        for i, stage in enumerate(self.encoder):
            if i > 0:
                h = _pool(h)
            h = stage(h)
            feats.append(h)
        decoded = [h]  # stage 6 output, then 5d, 4d, 3d, 2d, 1d
        for stage, skip in zip(self.decoder, reversed(feats[:-1]), strict=True):
            h = stage(torch.cat((_up(h, skip), skip), 1))
            decoded.append(h)
        finest = decoded[-1]
        # sides[0] reads stage 1d (finest) ... sides[5] reads stage 6.
        maps = [self.sides[k](decoded[5 - k]) for k in range(6)]
        maps = [maps[0]] + [_up(m, finest) for m in maps[1:]]
        fused = self.fuse(torch.cat(maps, 1))
        return [torch.sigmoid(m) for m in [fused, *maps]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_all(x)[0]

    def conv_layers(self) -> list[nn.Conv2d]:
        """The convolutions in the order the forward pass (and the ONNX graph) runs them."""
        convs: list[nn.Conv2d] = []
        for stage in [*self.encoder, *self.decoder]:
            convs.extend(m for m in stage.modules() if isinstance(m, nn.Conv2d))
        convs.extend(self.sides)  # type: ignore[arg-type]
        convs.append(self.fuse)
        return convs


def U2NetP() -> U2Net:  # noqa: N802 - reads like the class it builds
    return U2Net(SMALL)


def U2NetFull() -> U2Net:  # noqa: N802
    return U2Net(FULL)
