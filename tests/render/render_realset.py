"""The real-photo regression set: photographs that ship inside packages, each with a reference mask.

Reference masks (`<name>.png` beside `<name>.jpg`): 255 product, 0 background, 128 "don't care"
(a stem thinner than the networks see, the rocket's launch structure, places where the references
disagree). How each was made is recorded in `real/README.md`; every one was checked by eye.

Holes and spill are counted outside a margin around the reference's edge (edges are judged by
boundary F, not here): a hole is product the reference keeps that the matte makes transparent
(alpha < 0.5); "soft" is product left partly transparent (alpha < 0.9) -- a solid product must be
opaque; spill is background the matte keeps (alpha >= 0.5). Each is a share of the product's area.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

REAL_DIR = Path(__file__).resolve().parent / "real"
NAMES = ("coffee", "apple", "orange", "butterfly", "astronaut", "rocket")
KIND = {
    "coffee": "tableware",
    "apple": "fruit",
    "orange": "fruit",
    "butterfly": "thin-parts",
    "astronaut": "person",
    "rocket": "thin",
}


@dataclass(frozen=True)
class RealPhoto:
    name: str
    image: np.ndarray  # uint8 HxWx3
    reference: np.ndarray  # uint8 HxW: 255 product, 0 background, 128 don't care


def real_set() -> list[RealPhoto]:
    photos = []
    for name in NAMES:
        image = np.asarray(Image.open(REAL_DIR / f"{name}.jpg").convert("RGB"))
        ref = np.asarray(Image.open(REAL_DIR / f"{name}.png").convert("L"))
        assert ref.shape == image.shape[:2], name
        photos.append(RealPhoto(name, image, ref))
    return photos


def margin_px(shape: tuple[int, ...]) -> int:
    return max(3, round(0.012 * max(shape[:2])))


def real_metrics(alpha: np.ndarray, ref: np.ndarray, tolerance: int | None = None) -> dict[str, float]:
    """IoU and boundary F over the pixels the reference cares about; holes, soft and spill beyond
    the edge margin, as shares of the product's area. `alpha` float in [0, 1]."""
    import cv2

    care = ref != 128
    product, pred = ref == 255, alpha >= 0.5
    union = ((pred | product) & care).sum()
    iou = float((pred & product & care).sum() / union) if union else 1.0
    m = margin_px(ref.shape)
    kernel = np.ones((2 * m + 1, 2 * m + 1), np.uint8)
    core = cv2.erode(product.astype(np.uint8), kernel).astype(bool)
    outside = cv2.erode((ref == 0).astype(np.uint8), kernel).astype(bool)
    area = max(int(product.sum()), 1)
    tol = tolerance if tolerance is not None else max(2, round(0.005 * max(ref.shape)))
    bf = _boundary_f(pred, product, care, tol)
    return {
        "iou": iou,
        "bf": bf,
        "holes": float((core & (alpha < 0.5)).sum() / area),
        "soft": float((core & (alpha < 0.9)).sum() / area),
        "spill": float((outside & pred).sum() / area),
    }


def _boundary_f(pred: np.ndarray, product: np.ndarray, care: np.ndarray, tol: int) -> float:
    import cv2

    def edge(mask: np.ndarray) -> np.ndarray:
        m = mask.astype(np.uint8)
        return (m - cv2.erode(m, np.ones((3, 3), np.uint8))).astype(bool) & care

    ep, eg = edge(pred), edge(product)
    kernel = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    near_g = cv2.dilate(eg.astype(np.uint8), kernel).astype(bool)
    near_p = cv2.dilate(ep.astype(np.uint8), kernel).astype(bool)
    precision = float((ep & near_g).sum() / max(ep.sum(), 1))
    recall = float((eg & near_p).sum() / max(eg.sum(), 1))
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
