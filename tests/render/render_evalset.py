"""A procedurally rendered evaluation set with exact alpha: products of several shapes (some with
holes) on white, coloured, textured, dark and low-contrast backgrounds, with cast shadows.

Shapes are drawn at 4x and averaged down, so the ground-truth alpha has true fractional edges. The
textured backgrounds are real photographs bundled with scikit-image (brick, grass, gravel).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 384, 288
SS = 4
KINDS = ("white", "colored", "textured", "dark", "low_contrast")
SHAPES = ("bottle", "box", "ring", "mug", "star")
_COLORS = {
    "bottle": (40, 110, 190),
    "box": (200, 120, 50),
    "ring": (210, 180, 60),
    "mug": (180, 40, 60),
    "star": (60, 150, 90),
    "chain": (200, 170, 80),
    "pen": (30, 60, 150),
    "earrings": (190, 190, 200),
    "small_ring": (210, 180, 60),
}
THIN_SHAPES = ("chain", "pen", "earrings", "small_ring")
"""Thin and small products (jewellery, pens): a separate set, so the floors of the first one stay."""


@dataclass(frozen=True)
class Sample:
    kind: str
    shape: str
    image: np.ndarray  # uint8 HxWx3
    alpha: np.ndarray  # float32 HxW in [0, 1]


def _shape_mask(shape: str, rng: np.random.Generator) -> np.ndarray:
    big = Image.new("L", (W * SS, H * SS), 0)
    d = ImageDraw.Draw(big)
    cx = W * SS / 2 + rng.uniform(-30, 30) * SS
    cy = H * SS / 2 + rng.uniform(-15, 15) * SS
    s = SS * rng.uniform(0.9, 1.1)
    if shape == "bottle":
        d.rounded_rectangle((cx - 40 * s, cy - 50 * s, cx + 40 * s, cy + 100 * s), radius=int(25 * s), fill=255)
        d.rectangle((cx - 14 * s, cy - 100 * s, cx + 14 * s, cy - 40 * s), fill=255)
    elif shape == "box":
        d.rounded_rectangle((cx - 100 * s, cy - 70 * s, cx + 100 * s, cy + 80 * s), radius=int(8 * s), fill=255)
    elif shape == "ring":
        d.ellipse((cx - 95 * s, cy - 95 * s, cx + 95 * s, cy + 95 * s), fill=255)
        d.ellipse((cx - 50 * s, cy - 50 * s, cx + 50 * s, cy + 50 * s), fill=0)
    elif shape == "mug":
        d.ellipse((cx + 30 * s, cy - 50 * s, cx + 120 * s, cy + 40 * s), fill=255)
        d.ellipse((cx + 55 * s, cy - 25 * s, cx + 95 * s, cy + 15 * s), fill=0)
        d.rounded_rectangle((cx - 80 * s, cy - 80 * s, cx + 60 * s, cy + 90 * s), radius=int(18 * s), fill=255)
    elif shape == "chain":
        xs = np.linspace(-120, 120, 60)
        pts = [(cx + x * s, cy - 90 * s + 170 * s * (1 - (x / 120) ** 2)) for x in xs]
        d.line(pts, fill=255, width=int(3 * s), joint="curve")
        d.ellipse((cx - 11 * s, cy + 72 * s, cx + 11 * s, cy + 100 * s), fill=255)
    elif shape == "pen":
        t = np.deg2rad(28)
        u, v = np.array([np.cos(t), np.sin(t)]), np.array([-np.sin(t), np.cos(t)])
        corners = [(-115, -6), (100, -6), (125, 0), (100, 6), (-115, 6)]
        d.polygon([(cx + s * (a * u[0] + b * v[0]), cy + s * (a * u[1] + b * v[1])) for a, b in corners], fill=255)
    elif shape == "earrings":
        for dx in (-40, 40):
            x0 = cx + dx * s
            d.arc((x0 - 9 * s, cy - 60 * s, x0 + 9 * s, cy - 36 * s), 180, 360, fill=255, width=int(2 * s))
            d.line((x0 - 9 * s, cy - 48 * s, x0 - 9 * s, cy - 20 * s), fill=255, width=int(2 * s))
            d.line((x0 + 9 * s, cy - 48 * s, x0, cy - 16 * s), fill=255, width=int(2 * s))
            d.ellipse((x0 - 8 * s, cy - 18 * s, x0 + 8 * s, cy + 12 * s), fill=255)
    elif shape == "small_ring":
        d.ellipse((cx - 24 * s, cy - 24 * s, cx + 24 * s, cy + 24 * s), fill=255)
        d.ellipse((cx - 17 * s, cy - 17 * s, cx + 17 * s, cy + 17 * s), fill=0)
    else:
        pts = []
        for k in range(10):
            r = (110 if k % 2 == 0 else 48) * s
            t = np.pi / 5 * k - np.pi / 2
            pts.append((cx + r * np.cos(t), cy + r * np.sin(t)))
        d.polygon(pts, fill=255)
    small = np.asarray(big, np.float32).reshape(H, SS, W, SS).mean(axis=(1, 3)) / 255.0
    return small.astype(np.float32)


def _product(shape: str, rng: np.random.Generator) -> np.ndarray:
    base = np.array(_COLORS[shape], np.float32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    shade = 0.75 + 0.4 * (xx / W) - 0.15 * (yy / H)
    stripes = 1.0 + 0.08 * np.sin(xx / 6.0 + rng.uniform(0, 6))
    img = base[None, None, :] * (shade * stripes)[:, :, None]
    img[int(H * 0.45) : int(H * 0.55), :, :] = 235.0  # a light label band across the product
    return np.clip(img, 0, 255)


def _texture(rng: np.random.Generator) -> np.ndarray:
    from skimage import data

    name = ["brick", "grass", "gravel"][int(rng.integers(0, 3))]
    gray = getattr(data, name)().astype(np.float32)
    gray = np.asarray(Image.fromarray(gray.astype(np.uint8)).resize((W, H), Image.Resampling.BILINEAR), np.float32)
    tint = rng.uniform(0.7, 1.1, size=3).astype(np.float32)
    return np.clip(gray[:, :, None] * tint[None, None, :] * 0.9 + 20, 0, 255)


def _background(kind: str, shape: str, rng: np.random.Generator) -> np.ndarray:
    yy = np.linspace(0, 1, H, dtype=np.float32)[:, None, None]
    if kind == "white":
        bg = np.full((H, W, 3), 250.0, np.float32) - 8.0 * yy
    elif kind == "colored":
        color = np.array(
            [[70, 160, 170], [230, 170, 190], [240, 215, 90], [120, 90, 170], [150, 190, 120]][
                (SHAPES + THIN_SHAPES).index(shape) % 5
            ],
            np.float32,
        )
        bg = color[None, None, :] * (1.05 - 0.12 * yy)
    elif kind == "textured":
        bg = _texture(rng)
    elif kind == "dark":
        bg = np.full((H, W, 3), 32.0, np.float32) + 10.0 * yy
    else:
        color = np.array(_COLORS[shape], np.float32)
        bg = np.clip(color * 1.25 + 28.0, 0, 255)[None, None, :] * (1.0 - 0.06 * yy)
    bg = np.broadcast_to(bg, (H, W, 3)).astype(np.float32)
    return bg + rng.normal(0, 3.0, size=(H, W, 3)).astype(np.float32)


def make_sample(kind: str, shape: str, seed: int = 0) -> Sample:
    rng = np.random.default_rng(zlib.crc32(f"{kind}/{shape}/{seed}".encode()))
    alpha = _shape_mask(shape, rng)
    fg = _product(shape, rng)
    bg = _background(kind, shape, rng)
    shadow = Image.fromarray((alpha * 255).astype(np.uint8)).transform(
        (W, H), Image.Transform.AFFINE, (1, 0.35, -18, 0, 1, -10), resample=Image.Resampling.BILINEAR
    )
    shadow_a = np.asarray(shadow.filter(ImageFilter.GaussianBlur(6)), np.float32) / 255.0
    bg = bg * (1.0 - 0.45 * shadow_a)[:, :, None]
    comp = alpha[:, :, None] * fg + (1 - alpha[:, :, None]) * bg
    image = np.clip(np.rint(comp), 0, 255).astype(np.uint8)
    return Sample(kind, shape, image, alpha)


def evaluation_set() -> list[Sample]:
    return [make_sample(kind, shape) for kind in KINDS for shape in SHAPES]


def thin_set() -> list[Sample]:
    return [make_sample(kind, shape) for kind in KINDS for shape in THIN_SHAPES]


def chain_set(seeds: int = 4) -> list[Sample]:
    """Necklaces alone, several draws per background: the thin set holds one of each."""
    return [make_sample(kind, "chain", seed) for kind in KINDS for seed in range(seeds)]


def _boundary(mask: np.ndarray) -> np.ndarray:
    import cv2

    m = mask.astype(np.uint8)
    return (m - cv2.erode(m, np.ones((3, 3), np.uint8))).astype(bool)


def metrics(pred: np.ndarray, gt: np.ndarray, tolerance: int = 2) -> dict[str, float]:
    """IoU of the 0.5 masks, boundary F (tolerance in pixels) and alpha MAE (alpha in 0..1)."""
    import cv2

    p, g = pred > 0.5, gt > 0.5
    union = (p | g).sum()
    iou = float((p & g).sum() / union) if union else 1.0
    bp, bg_ = _boundary(p), _boundary(g)
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    near_g = cv2.dilate(bg_.astype(np.uint8), kernel).astype(bool)
    near_p = cv2.dilate(bp.astype(np.uint8), kernel).astype(bool)
    precision = float((bp & near_g).sum() / max(bp.sum(), 1))
    recall = float((bg_ & near_p).sum() / max(bg_.sum(), 1))
    bf = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    mae = float(np.abs(pred.astype(np.float32) - gt).mean())
    return {"iou": iou, "bf": bf, "mae": mae}


def rembg_style_u2netp(session: object, image: np.ndarray) -> np.ndarray:
    """The baseline: what rembg does with u2netp (LANCZOS to 320, /max, ImageNet normalisation,
    min-max of the fused map, LANCZOS back up, used directly as alpha). onnxruntime session in."""
    pil = Image.fromarray(image)
    small = np.asarray(pil.resize((320, 320), Image.Resampling.LANCZOS), np.float32)
    small = small / max(float(small.max()), 1e-6)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    x = ((small - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
    pred = session.run(None, {"input.1": x})[0][:, 0]  # type: ignore[attr-defined]
    pred = (pred - pred.min()) / max(float(pred.max() - pred.min()), 1e-6)
    mask = Image.fromarray((pred[0] * 255).astype(np.uint8), "L").resize(pil.size, Image.Resampling.LANCZOS)
    return np.asarray(mask, np.float32) / 255.0
