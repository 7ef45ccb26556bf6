"""The segmenter that needs no weights: a background colour model seeded from the photo's border,
then OpenCV GrabCut. Seller photos are mostly a product in the middle of a table, sheet or wall, so
the border is a fair sample of the background; a shadow-tolerant distance keeps cast shadows out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WORK_SIDE = 400
CLUSTERS = 5
L_WEIGHT = 0.45  # lightness counts less than colour: cast shadows mostly darken the background
ITERATIONS = 4


class ClassicalSegmenter:
    """Border-seeded colour model + GrabCut; coarse float mattes at a working scale of WORK_SIDE."""

    name = "classical"

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [self._one(image) for image in images]

    def _one(self, image: np.ndarray) -> np.ndarray:
        import cv2

        h, w = image.shape[:2]
        scale = min(1.0, WORK_SIDE / max(h, w))
        small = cv2.resize(
            image, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA
        )
        small = cv2.GaussianBlur(small, (3, 3), 0)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
        lab *= np.array([L_WEIGHT, 1.0, 1.0], np.float32)
        sh, sw = lab.shape[:2]
        band = max(3, round(0.03 * max(sh, sw)))
        border = np.zeros((sh, sw), bool)
        border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
        distance = _distance_to_border_model(lab, border)
        inner = distance[~border]
        spread = float(np.percentile(distance[border], 95))
        threshold = max(10.0, 1.6 * spread)
        mask = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
        mask[distance > threshold] = cv2.GC_PR_FGD
        sure = cv2.erode((distance > 2.2 * threshold).astype(np.uint8), np.ones((5, 5), np.uint8))
        mask[sure.astype(bool)] = cv2.GC_FGD
        mask[border] = cv2.GC_BGD
        if inner.size == 0 or not (mask == cv2.GC_PR_FGD).any() and not (mask == cv2.GC_FGD).any():
            return np.zeros((sh, sw), np.float32)
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
        try:
            cv2.grabCut(bgr, mask, None, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)  # type: ignore[call-overload]
        except cv2.error:
            return np.zeros((sh, sw), np.float32)
        fg = ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)
        fg = _keep_large_components(fg)
        return cv2.GaussianBlur(fg.astype(np.float32), (3, 3), 0)


def _distance_to_border_model(lab: np.ndarray, border: np.ndarray) -> np.ndarray:
    import cv2

    samples = lab[border].reshape(-1, 3)
    if samples.shape[0] > 4000:
        samples = samples[:: samples.shape[0] // 4000]
    k = min(CLUSTERS, samples.shape[0])
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(7)
    _, _, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    flat = lab.reshape(-1, 1, 3)
    dist = np.sqrt(((flat - centres[None, :, :]) ** 2).sum(-1)).min(1)
    return np.asarray(dist.reshape(lab.shape[:2]), np.float32)


def _keep_large_components(fg: np.ndarray) -> np.ndarray:
    import cv2

    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 1:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= 0.08 * areas.max()) + 1
    return np.isin(labels, keep).astype(np.uint8)
