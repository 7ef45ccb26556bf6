"""Edge refinement: a colour-guided filter snaps a coarse matte to the photo's own edges, then blur-fusion
foreground estimation removes the old background's colour from edge pixels.

OpenCV and float32 numpy only (no torch: a CPU worker never imports it). Box means are OpenCV's box
filter, O(1) per pixel with double-precision running sums (the guided filter's variances need them).
The filter's coefficients are solved at a reduced scale (GUIDE_SIDE) and applied at full resolution.
"""

from __future__ import annotations

import numpy as np

GUIDE_SIDE = 640  # the scale at which the guided filter's coefficients are solved
EPS = 1e-4


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window with edge clamping (replicated border), any number of channels."""
    import cv2

    if r <= 0:
        return x
    k = 2 * r + 1
    return np.asarray(cv2.boxFilter(x, -1, (k, k), borderType=cv2.BORDER_REPLICATE), np.float32)


def _resize(x: np.ndarray, size: tuple[int, int], *, area: bool = False) -> np.ndarray:
    """`x` resized to (height, width), same dtype: pixel-area averaging down (area=True), else bilinear."""
    import cv2

    if x.shape[:2] == size:
        return x
    mode = cv2.INTER_AREA if area else cv2.INTER_LINEAR
    return np.asarray(cv2.resize(x, (size[1], size[0]), interpolation=mode))


def _solve(image: np.ndarray, coarse: np.ndarray, radius: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's coefficients at the reduced scale: a (h x w x 3, per unit of 8-bit colour) and
    b (h x w), so that the refined matte at full resolution is a . I + b with I the photo's uint8 pixels."""
    h, w = image.shape[:2]
    scale = min(1.0, GUIDE_SIDE / max(h, w))
    low = (max(1, round(h * scale)), max(1, round(w * scale)))
    # Averaged down in 8 bits (no full-size float copy): the rounding's noise (1/255)^2 / 12 is far
    # below EPS, so the windows' variances do not notice it.
    guide = _resize(np.asarray(image, np.uint8), low, area=True).astype(np.float32) * np.float32(1.0 / 255.0)
    p = _resize(np.asarray(coarse, np.float32), low)
    r = radius if radius is not None else max(2, round(max(low) / 160))
    a, b = _coefficients(guide, p, r)
    return a * np.float32(1.0 / 255.0), b


def guided_refine(image: np.ndarray, coarse: np.ndarray, *, radius: int | None = None) -> np.ndarray:
    """Refine `coarse` (float32 HxW in [0,1], any size) against `image` (uint8 HxWx3); float32 HxW out."""
    a, b = _solve(image, coarse, radius)
    size = (image.shape[0], image.shape[1])
    q: np.ndarray = np.einsum("hwc,hwc->hw", _resize(a, size), image, dtype=np.float32)
    q += _resize(b, size)
    return np.clip(q, 0.0, 1.0, out=q)


def _coefficients(guide: np.ndarray, p: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """He et al.'s colour guided filter: per-window linear model p ~ a . I + b, then averaged.
    guide HxWx3 float32 in [0, 1], p HxW; a HxWx3, b HxW out."""
    mean_i = _box(guide, r)
    mean_p = _box(p, r)
    cov_ip = _box(guide * p[:, :, None], r) - mean_i * mean_p[:, :, None]
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    prods = np.stack([guide[:, :, i] * guide[:, :, j] for i, j in pairs], axis=2)
    var = _box(prods, r)
    # The per-pixel 3x3 system (Sigma + eps I) a = cov, solved in closed form by cofactors.
    s00, s01, s02, s11, s12, s22 = (var[:, :, k] - mean_i[:, :, i] * mean_i[:, :, j] for k, (i, j) in enumerate(pairs))
    s00, s11, s22 = s00 + EPS, s11 + EPS, s22 + EPS
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    x, y, z = cov_ip[:, :, 0], cov_ip[:, :, 1], cov_ip[:, :, 2]
    a = np.stack((c00 * x + c01 * y + c02 * z, c01 * x + c11 * y + c12 * z, c02 * x + c12 * y + c22 * z), axis=2)
    a /= det[:, :, None]
    b = mean_p - np.einsum("hwc,hwc->hw", a, mean_i, dtype=np.float32)
    return _box(a, r), _box(b, r)


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Foreground colours with the old background removed at the edges (blur fusion, two passes).

    Pixels that are fully opaque or clear keep their colour; only 0 < alpha < 1 pixels change, so the
    last step is computed on those pixels alone. uint8 HxWx3 out."""
    h, w = alpha.shape
    edge = (alpha > 0.004) & (alpha < 0.996)
    out = np.array(image, dtype=np.uint8, copy=True)
    if not edge.any():
        return out
    img = image.astype(np.float32)
    img *= np.float32(1.0 / 255.0)
    a = np.asarray(alpha, np.float32)
    big = max(3, round(max(h, w) / 22))
    small = max(2, round(max(h, w) / 340))
    fg, bg = _coarse_pass(img, a, big)
    # The second pass: its box means over the whole crop, its result formed at edge pixels only.
    a3 = a[:, :, None]
    fg *= a3
    bg *= 1.0 - a3
    blurred_a = _box(a, small)[edge][:, None]
    blurred_fg = _box(fg, small)[edge] / (blurred_a + 1e-5)
    blurred_bg = _box(bg, small)[edge] / ((1.0 - blurred_a) + 1e-5)
    ea = a[edge][:, None]
    est = blurred_fg + ea * (img[edge] - ea * blurred_fg - (1.0 - ea) * blurred_bg)
    out[edge] = np.rint(np.clip(est, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out


def _coarse_pass(img: np.ndarray, a: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """The wide first pass of blur fusion: its blurred colours are smooth, so they are computed at a
    quarter of the resolution and brought back up. Returns (foreground estimate, blurred background),
    both new full-size arrays the caller may overwrite."""
    h, w = a.shape
    factor = 4 if min(h, w) >= 64 else 1
    size = (max(1, h // factor), max(1, w // factor))
    small_img = _resize(img, size, area=True)
    small_a = _resize(a, size, area=True)[:, :, None]
    rr = max(1, r // factor)
    blurred_a = _box(small_a[:, :, 0], rr)[:, :, None]
    blurred_fg = _box(small_img * small_a, rr) / (blurred_a + 1e-5)
    blurred_bg = _box(small_img * (1 - small_a), rr) / ((1 - blurred_a) + 1e-5)
    fg = _resize(blurred_fg, (h, w))  # arrays of this function's own: the caller may overwrite them
    bg = _resize(blurred_bg, (h, w))
    # est = fg + a (img - a fg - (1 - a) bg), rearranged to grow one array in place
    a3 = a[:, :, None]
    est = fg
    est *= 1.0 - a3 * a3
    est += a3 * img
    est -= (a3 * (1.0 - a3)) * bg
    return np.clip(est, 0.0, 1.0, out=est), bg
