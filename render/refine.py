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


def guide_view(image: np.ndarray) -> np.ndarray:
    """The photo averaged down to GUIDE_SIDE (uint8; the photo itself when smaller): the guided filter's
    guide, and the one reduced view every step that works at a smaller scale starts from (the
    network's input, the hole evidence), so that a 12-MP photo is averaged down once, not three times."""
    h, w = image.shape[:2]
    scale = min(1.0, GUIDE_SIDE / max(h, w))
    low = (max(1, round(h * scale)), max(1, round(w * scale)))
    return _resize(np.asarray(image, np.uint8), low, area=True)


def _solve(
    image: np.ndarray, coarse: np.ndarray, radius: int | None, view: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's coefficients at the reduced scale: a (h x w x 3, per unit of 8-bit colour) and
    b (h x w), so that the refined matte at full resolution is a . I + b with I the photo's uint8 pixels."""
    # Averaged down in 8 bits (no full-size float copy): the rounding's noise (1/255)^2 / 12 is far
    # below EPS, so the windows' variances do not notice it.
    small = guide_view(image) if view is None else view
    low = (small.shape[0], small.shape[1])
    guide = small.astype(np.float32) * np.float32(1.0 / 255.0)
    p = _resize(np.asarray(coarse, np.float32), low)
    r = radius if radius is not None else max(2, round(max(low) / 160))
    a, b = _coefficients(guide, p, r)
    return a * np.float32(1.0 / 255.0), b


def guided_refine(
    image: np.ndarray,
    coarse: np.ndarray,
    *,
    radius: int | None = None,
    stretch: tuple[float, float] | None = None,
    view: np.ndarray | None = None,
) -> np.ndarray:
    """Refine `coarse` (float32 HxW in [0,1], any size) against `image` (uint8 HxWx3); float32 HxW out.

    `stretch` (lo, hi): the result is then (q - lo) / (hi - lo), clipped to [0, 1], and it is formed at
    full resolution only inside the box where q can exceed lo: elsewhere it is 0 without being computed.
    That box is exact, not a guess: a full-size pixel's (a, b) is a convex blend of four low-scale ones,
    so its q never exceeds their largest bound b + 255 * sum(max(a, 0)) (the most any colour can give).
    `view`: `guide_view(image)` when the caller has it already."""
    a, b = _solve(image, coarse, radius, view)
    h, w = image.shape[0], image.shape[1]
    size = (h, w)
    top, bottom, left, right = 0, h, 0, w
    if stretch is not None:
        bound = np.maximum(a, 0.0) @ np.full(3, 255.0, np.float32)  # a matrix product sums the channels fast
        bound += b
        reach = bound > stretch[0]
        rows, cols = np.flatnonzero(reach.any(1)), np.flatnonzero(reach.any(0))
        if rows.size == 0:
            return np.zeros(size, np.float32)
        sy, sx = h / b.shape[0], w / b.shape[1]
        # Low-scale row i feeds full-size rows within one low-scale pixel of (i + 0.5) * sy.
        top, bottom = max(0, int((rows[0] - 1) * sy)), min(h, int(np.ceil((rows[-1] + 2) * sy)))
        left, right = max(0, int((cols[0] - 1) * sx)), min(w, int(np.ceil((cols[-1] + 2) * sx)))
    full_a = _resized_window(a, size, (top, bottom, left, right))
    window = np.asarray(image[top:bottom, left:right])
    q: np.ndarray = np.einsum("hwc,hwc->hw", full_a, window, dtype=np.float32)
    q += _resized_window(b, size, (top, bottom, left, right))
    if stretch is None:
        return np.clip(q, 0.0, 1.0, out=q)
    lo, hi = stretch
    q -= np.float32(lo)
    q *= np.float32(1.0 / (hi - lo))
    out = np.zeros(size, np.float32)
    out[top:bottom, left:right] = np.clip(q, 0.0, 1.0, out=q)
    return out


def _resized_window(low: np.ndarray, size: tuple[int, int], window: tuple[int, int, int, int]) -> np.ndarray:
    """`_resize(low, size)[top:bottom, left:right]`, resizing only a block of `low` around the window.

    The block starts and ends on low pixels that fall on whole full-size pixels (when the scale is
    q/p, every p-th), so OpenCV maps each output pixel to the same source position as in the whole
    resize; it reaches a low pixel past the window on each side, so no clamping at its edges shows.
    Falls back to the whole resize when p is large (an odd scale)."""
    import math
    from fractions import Fraction

    top, bottom, left, right = window
    spans = []
    for full, n, lo, hi in ((size[0], low.shape[0], top, bottom), (size[1], low.shape[1], left, right)):
        ratio = Fraction(full, n)  # full-size pixels per low pixel
        p = ratio.denominator
        if p > 32:
            return _resize(low, size)[top:bottom, left:right]
        first = max(0, (math.floor(lo / ratio) - 1) // p * p)
        last = min(n, -(-(math.ceil(hi / ratio) + 1) // p) * p)
        spans.append((first, last, int(first * ratio), full if last == n else int(last * ratio)))
    (r0, r1, y0, y1), (c0, c1, x0, x1) = spans
    block = _resize(np.ascontiguousarray(low[r0:r1, c0:c1]), (y1 - y0, x1 - x0))
    return block[top - y0 : bottom - y0, left - x0 : right - x0]


def _coefficients(guide: np.ndarray, p: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """He et al.'s colour guided filter: per-window linear model p ~ a . I + b, then averaged.
    guide HxWx3 float32 in [0, 1], p HxW; a HxWx3, b HxW out. Worked in separate colour planes
    (contiguous arrays: the same arithmetic as on the interleaved image, a third faster)."""
    import cv2

    planes = cv2.split(guide)
    mean_i = [_box(g, r) for g in planes]
    mean_p = _box(p, r)
    x, y, z = (_box(g * p, r) - m * mean_p for g, m in zip(planes, mean_i, strict=True))
    pairs = [(i, j) for i in range(3) for j in range(i, 3)]
    # The per-pixel 3x3 system (Sigma + eps I) a = cov, solved in closed form by cofactors.
    s00, s01, s02, s11, s12, s22 = (_box(planes[i] * planes[j], r) - mean_i[i] * mean_i[j] for i, j in pairs)
    s00, s11, s22 = s00 + EPS, s11 + EPS, s22 + EPS
    c00, c01, c02 = s11 * s22 - s12 * s12, s02 * s12 - s01 * s22, s01 * s12 - s02 * s11
    c11, c12, c22 = s00 * s22 - s02 * s02, s01 * s02 - s00 * s12, s00 * s11 - s01 * s01
    det = s00 * c00 + s01 * c01 + s02 * c02
    a = [(c00 * x + c01 * y + c02 * z) / det, (c01 * x + c11 * y + c12 * z) / det, (c02 * x + c12 * y + c22 * z) / det]
    b = mean_p - (a[0] * mean_i[0] + a[1] * mean_i[1] + a[2] * mean_i[2])
    return _box(cv2.merge(a), r), _box(b, r)


TILE = 32  # the side of the tiles in which the second pass of the foreground estimation runs


def estimate_foreground(image: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Foreground colours with the old background removed at the edges (blur fusion, two passes).

    Pixels that are fully opaque or clear keep their colour; only 0 < alpha < 1 pixels change. The
    first pass is smooth and runs at a quarter of the resolution; the second runs only in the TILE x
    TILE tiles that hold edge pixels, all of them at once as one stack (each with a halo of the box's
    radius, clamped at the crop's border as the box filter's replicated border is): on a product
    photo a few percent of the crop instead of all of it, with the same result. uint8 HxWx3 out."""
    import cv2

    h, w = alpha.shape
    edge = (alpha > 0.004) & (alpha < 0.996)
    out = np.array(image, dtype=np.uint8, copy=True)
    if not edge.any():
        return out
    a = np.asarray(alpha, np.float32)
    small = max(2, round(max(h, w) / 340))
    fg_low, bg_low = _coarse_pass(image, a, max(3, round(max(h, w) / 22)))
    ty, tx = _edge_tiles(edge)
    steps = np.arange(-small, TILE + small)
    rows = np.clip(ty[:, None] * TILE + steps, 0, h - 1)  # N x P: each tile's rows, halo included
    cols = np.clip(tx[:, None] * TILE + steps, 0, w - 1)
    n, p = rows.shape
    # The tiles stacked one above the other (N * P rows of P): a box of radius `small` around an
    # inner pixel reads only its own tile's rows, so one filter call serves them all.
    at_y = np.broadcast_to(rows[:, :, None].astype(np.float32), (n, p, p)).reshape(n * p, p)
    at_x = np.broadcast_to(cols[:, None, :].astype(np.float32), (n, p, p)).reshape(n * p, p)
    pa = _gather(a, at_x, at_y)
    img = _gather(np.asarray(image, np.uint8), at_x, at_y).astype(np.float32)
    img *= np.float32(1.0 / 255.0)
    # In separate colour planes (contiguous arrays, each weighed by alpha without a broadcast).
    fgs: list[np.ndarray] = list(cv2.split(_bilinear(fg_low, rows, cols, (h, w)).reshape(n * p, p, 3)))
    bgs: list[np.ndarray] = list(cv2.split(_bilinear(bg_low, rows, cols, (h, w)).reshape(n * p, p, 3)))
    colours: list[np.ndarray] = list(cv2.split(img))
    keep_fg, mix, clear = 1.0 - pa * pa, pa * (1.0 - pa), 1.0 - pa
    for est, bg, colour in zip(fgs, bgs, colours, strict=True):
        # est = fg + a (img - a fg - (1 - a) bg), rearranged to grow one array in place
        est *= keep_fg
        est += pa * colour
        est -= mix * bg
        np.clip(est, 0.0, 1.0, out=est)
        est *= pa
        bg *= clear
    # The edge pixels of each tile's inner part (its halo and any part past the crop left out), as
    # flat positions in the stack.
    r, c = ty[:, None] * TILE + np.arange(TILE), tx[:, None] * TILE + np.arange(TILE)
    keep = (r < h)[:, :, None] & (c < w)[:, None, :]
    keep[keep] = edge[r[:, :, None].clip(max=h - 1), c[:, None, :].clip(max=w - 1)][keep]
    tile, y, x = np.nonzero(keep)
    flat = (tile * p + y + small) * p + x + small
    blurred_a = _box(pa, small).reshape(-1)[flat][:, None]
    blurred_fg = np.stack([_box(e, small).reshape(-1)[flat] for e in fgs], axis=1) / (blurred_a + 1e-5)
    blurred_bg = np.stack([_box(e, small).reshape(-1)[flat] for e in bgs], axis=1) / ((1.0 - blurred_a) + 1e-5)
    ea, eimg = pa.reshape(-1)[flat][:, None], img.reshape(-1, 3)[flat]
    result = blurred_fg + ea * (eimg - ea * blurred_fg - (1.0 - ea) * blurred_bg)
    out[r[tile, y], c[tile, x]] = np.rint(np.clip(result, 0.0, 1.0) * 255.0).astype(np.uint8)
    return out


def _gather(x: np.ndarray, at_x: np.ndarray, at_y: np.ndarray) -> np.ndarray:
    """`x` at the whole-pixel positions (at_y, at_x) (float32 maps of one shape), by OpenCV's remap."""
    import cv2

    return np.asarray(cv2.remap(x, at_x, at_y, cv2.INTER_NEAREST))


def _edge_tiles(edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tile rows, tile columns) of the TILE x TILE tiles that hold an edge pixel."""
    h, w = edge.shape
    th, tw = -(-h // TILE), -(-w // TILE)
    padded = np.zeros((th * TILE, tw * TILE), bool)
    padded[:h, :w] = edge
    ty, tx = np.nonzero(padded.reshape(th, TILE, tw, TILE).any(axis=(1, 3)))
    return ty, tx


def _bilinear(low: np.ndarray, rows: np.ndarray, cols: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`low` (h x w x 3) brought up to `size` as OpenCV's bilinear resize maps it (pixel centres
    aligned, clamped at the border), formed only at the N x P x P pixels given by each tile's rows
    and columns (N x P each). OpenCV's remap, whose positions are exact to 1/32 of a `low` pixel."""
    import cv2

    n, p = rows.shape
    ys = ((rows + 0.5) * (low.shape[0] / size[0]) - 0.5).astype(np.float32)
    xs = ((cols + 0.5) * (low.shape[1] / size[1]) - 0.5).astype(np.float32)
    map_y = np.broadcast_to(ys[:, :, None], (n, p, p)).reshape(n * p, p)
    map_x = np.broadcast_to(xs[:, None, :], (n, p, p)).reshape(n * p, p)
    out = cv2.remap(low, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(out, np.float32).reshape(n, p, p, 3)


def _coarse_pass(image: np.ndarray, a: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """The wide first pass of blur fusion: its blurred colours are smooth, so they are computed at a
    quarter of the resolution. Returns the blurred foreground and background at that resolution."""
    h, w = a.shape
    factor = 4 if min(h, w) >= 64 else 1
    size = (max(1, h // factor), max(1, w // factor))
    # Averaged down in 8 bits (no full-size float copy of the crop): half a level of rounding, under a
    # blur that spans a twentieth of the crop.
    small_img = _resize(np.asarray(image, np.uint8), size, area=True).astype(np.float32)
    small_img *= np.float32(1.0 / 255.0)
    small_a = _resize(a, size, area=True)[:, :, None]
    rr = max(1, r // factor)
    blurred_a = _box(small_a[:, :, 0], rr)[:, :, None]
    blurred_fg = _box(small_img * small_a, rr) / (blurred_a + 1e-5)
    blurred_bg = _box(small_img * (1 - small_a), rr) / ((1 - blurred_a) + 1e-5)
    return blurred_fg, blurred_bg
