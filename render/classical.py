"""The segmenter that needs no weights: a background colour model seeded from the photo's border,
then OpenCV GrabCut. Seller photos are mostly a product in the middle of a table, sheet or wall, so
the border is a fair sample of the background; a shadow-tolerant distance keeps cast shadows out.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WORK_SIDE = 400
CLUSTERS = 5
L_WEIGHT = 0.6  # lightness counts less than colour
SHADOW_MIN = 0.4  # a cast shadow keeps at least this share of the background's brightness
SHADOW_PENALTY = 14.0
HOLE_MIN_AREA = 0.002
HOLE_TIGHT_MATCH = 7.0  # median distance to the background model (Lab-like units) of a sure hole
HOLE_UNSURE = 0.85  # a region the network rates below this needs only the loose colour match
HOLE_FILLED = 0.15  # a region rated above this is (partly) filled in: a half-filled hole is cleared too
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
        small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (3, 3), 0)
        lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
        sh, sw = lab.shape[:2]
        band = max(3, round(0.03 * max(sh, sw)))
        border = np.zeros((sh, sw), bool)
        border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
        distance = _distance_to_border_model(small, lab, border)
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


def _distance_to_border_model(rgb: np.ndarray, lab: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Distance to the nearest border colour cluster: the smaller of a Lab distance (lightness
    weighted down) and a shadow distance (how far the pixel is from a darkened copy of the cluster's
    RGB colour, plus a little for the darkening itself)."""
    import cv2

    pick = np.flatnonzero(border.reshape(-1))
    if pick.size > 4000:
        pick = pick[:: pick.size // 4000]
    samples = lab.reshape(-1, 3)[pick]
    k = min(CLUSTERS, samples.shape[0])
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(7)
    _, labels, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)  # type: ignore[call-overload]
    rgb_samples = rgb.reshape(-1, 3)[pick].astype(np.float32)
    rgb_centres = np.stack(
        [rgb_samples[labels[:, 0] == i].mean(0) if (labels[:, 0] == i).any() else np.zeros(3) for i in range(k)]
    ).astype(np.float32)
    # One cluster at a time over whole colour planes: the same sums as an N x k x 3 broadcast, without
    # its large temporaries (this ran ~100 ms a 12-MP render before; the planes are 400 px photos).
    weights = np.array([L_WEIGHT, 1.0, 1.0], np.float32)
    lab_planes = [lab[..., c] for c in range(3)]
    rgb_planes = [rgb[..., c].astype(np.float32) for c in range(3)]
    dist = np.full(lab.shape[:2], np.inf, np.float32)
    for centre, colour in zip(centres.astype(np.float32), rgb_centres, strict=True):
        lab_sq = sum(np.square((plane - centre[c]) * weights[c]) for c, plane in enumerate(lab_planes))
        norm = max(float(np.square(colour).sum()), 1.0)
        dot = sum(plane * (colour[c] / np.float32(norm)) for c, plane in enumerate(rgb_planes))
        shade = np.clip(dot, SHADOW_MIN, 1.0)
        residual_sq = sum(np.square(plane - shade * colour[c]) for c, plane in enumerate(rgb_planes))
        shadow_dist = np.sqrt(residual_sq) + SHADOW_PENALTY * (1.0 - shade)
        np.minimum(dist, np.minimum(np.sqrt(lab_sq), shadow_dist), out=dist)
    return dist


def _keep_large_components(fg: np.ndarray) -> np.ndarray:
    import cv2

    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if count <= 1:
        return fg
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= 0.08 * areas.max()) + 1
    return np.isin(labels, keep).astype(np.uint8)


def open_holes(image: np.ndarray, coarse: np.ndarray) -> np.ndarray:
    """Reopen holes a saliency network fills (a mug's handle, a ring): regions that lie inside the
    matte, are cut off from the background around the product and match the border's background
    colours. Background-coloured parts that reach the outside (a white label on a white table) stay.

    The evidence must be strong, because a wrong hole ruins a sale: the region's colours match the
    background tightly (median distance under HOLE_TIGHT_MATCH), or the network itself is unsure
    there (mean under HOLE_UNSURE) and they match loosely. A coffee's crema matches a wooden table
    loosely while the network is sure it is cup: it stays. Returns the coarse matte (its own
    resolution) with the holes cleared."""
    import cv2

    h, w = image.shape[:2]
    scale = min(1.0, WORK_SIDE / max(h, w))
    small = cv2.resize(image, (max(8, round(w * scale)), max(8, round(h * scale))), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (3, 3), 0)
    sh, sw = small.shape[:2]
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).astype(np.float32)
    band = max(3, round(0.03 * max(sh, sw)))
    border = np.zeros((sh, sw), bool)
    border[:band], border[-band:], border[:, :band], border[:, -band:] = True, True, True, True
    distance = _distance_to_border_model(small, lab, border)
    spread = float(np.percentile(distance[border], 90))
    raw_bg = (distance < max(10.0, 1.5 * spread)).astype(np.uint8)
    like_bg = cv2.morphologyEx(raw_bg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    matte = cv2.resize(coarse, (sw, sh), interpolation=cv2.INTER_LINEAR)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(like_bg, connectivity=4)
    holes = np.zeros((sh, sw), bool)
    min_area = HOLE_MIN_AREA * sh * sw
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        if area < min_area or x == 0 or y == 0 or x + bw >= sw or y + bh >= sh:
            continue
        region = labels == i
        rim = cv2.dilate(region.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool) & ~region
        inside = float(matte[region].mean())
        if inside <= HOLE_FILLED or float((matte[rim] > 0.5).mean()) <= 0.97:
            continue
        if inside < HOLE_UNSURE or float(np.median(distance[region])) < HOLE_TIGHT_MATCH:
            holes |= region
    if not holes.any():
        return coarse
    holes = cv2.dilate(holes.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    keep = cv2.resize((~holes).astype(np.float32), (coarse.shape[1], coarse.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.asarray(coarse * keep, np.float32)
