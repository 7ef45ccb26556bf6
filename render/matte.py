"""From the network's coarse matte to the full-resolution alpha, without undoing what it is sure of.

The steps, each kept because it measured better on the real-photo set and the synthetic set
(tests/render/render_realset.py, render_evalset.py; numbers in the issue note):

1. A second, closer look (`detail_pass`): when the product fills little of the frame, the network
   runs again on the product's crop (it is fully convolutional; 320 px over the crop instead of over
   the whole photo) and the two are fused: thin and small products (chains, pens, rings) keep detail
   the first pass blurs away.
   For a thin product that spans much of the frame (a necklace, a chain) that crop is nearly the
   whole photo, so the closer look is a tiled one instead (`tiled_pass`): the product's box in
   2 x 2 overlapping tiles, each seen at the network's full input (about twice the first look's
   scale), blended, and fused with the first look by their maximum, near where the first saw
   anything (a tile alone can lose a faint stretch of chain, so it never takes away; the
   geometric mean and the average lost up to 0.16 IoU on some chains for that).
   It runs only when the first look's sure region is thin (`is_thin`): ordinary products pay
   nothing, and compact ones would lose from it (a tile that cuts a pen or a ring sees no product).
2. Holes (`render.classical.open_holes`): opened only on strong evidence -- an enclosed region that
   matches the background's colours tightly, or loosely where the network itself rates it low.
   A coffee's crema matches a wooden table loosely; the network is sure it is cup: it stays.
3. Edges: a colour-guided filter snaps the matte to the photo's own edges, and a mild stretch
   makes the nearly-sure opaque or clear.

Tried and dropped, because it earned nothing on either set: bounding the filtered alpha by the
coarse matte's confidence (opaque wherever the network said >= 0.95).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from render.segmenter import INPUT_SIDE, Segmenter

_LOW, _HIGH = 0.04, 0.96
DETAIL_MAX_SHARE = 0.35  # the second pass runs when the product's box covers less of the frame
DETAIL_MARGIN = 0.12
DETAIL_AGREEMENT = 0.5  # IoU the closer look must share with the first before they are fused
THIN_WIDTH = 6.0  # mean width (network pixels: 2 x area / perimeter) of a thin product's sure region
THIN_EXTENT = 0.4  # ... whose box spans at least this share of the network's frame
TILE_SHARE = 0.6  # a tile's side, as a share of the product box's longer side (2 x 2 tiles)
NEAR_LEVEL, NEAR_SHARE = 0.1, 0.02  # the tiled look adds only within this reach of where the first > level


@dataclass(frozen=True)
class Pipeline:
    """Which post-processing steps run (every one can be switched off to measure what it earns)."""

    detail: bool = True
    tiles: bool = True
    holes: bool = True
    refine: bool = True


DEFAULT = Pipeline()


def mattes(
    rgbs: Sequence[np.ndarray], segmenter: Segmenter, pipeline: Pipeline = DEFAULT
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(full-resolution alpha, coarse matte) per image; one network batch for the first pass."""
    from render.classical import open_holes
    from render.refine import guide_view

    # One reduced view per photo serves the network's first look, the hole evidence and the guide
    # (the look only for a network whose input is no larger than the view: U^2-Net's 320 px, not an
    # IS-Net's 1024).
    views = [guide_view(rgb) for rgb in rgbs]
    side = getattr(segmenter, "input_side", INPUT_SIDE)
    small_input = all(min(v.shape[:2]) >= side for v in views)
    coarse = segmenter.predict(views if small_input else list(rgbs))
    learned = segmenter.name != "classical"
    if learned and pipeline.detail:
        # Holes are judged on the first look too: a small ring's hole that the closer look half
        # fills in is still cleared (measured: the closer look alone lost small rings).
        out = []
        for rgb, view, first in zip(rgbs, views, coarse, strict=True):
            carved = open_holes(view, first) if pipeline.holes else first
            if pipeline.tiles and is_thin(carved):
                closer = tiled_pass(rgb, carved, segmenter)
            else:
                closer = detail_pass(rgb, carved, segmenter)
            # Without a closer look the holes are done; after one they are judged again.
            again = replace(pipeline, holes=pipeline.holes and closer is not carved)
            out.append((finish(rgb, closer, again, learned=learned, view=view), closer))
        return out
    return [
        (finish(rgb, c, pipeline, learned=learned, view=view), c)
        for rgb, view, c in zip(rgbs, views, coarse, strict=True)
    ]


def finish(
    rgb: np.ndarray,
    coarse: np.ndarray,
    pipeline: Pipeline = DEFAULT,
    *,
    learned: bool = True,
    view: np.ndarray | None = None,
) -> np.ndarray:
    """Holes and edge refinement for one coarse matte; float32 HxW at the photo's size out. `view`:
    `render.refine.guide_view(rgb)` when the caller has it already."""
    from render.classical import open_holes
    from render.refine import guide_view, guided_refine

    small = guide_view(rgb) if view is None else view
    if learned and pipeline.holes:
        coarse = open_holes(small, coarse)
    if not pipeline.refine:
        return _upsample(coarse, rgb.shape[:2])
    return guided_refine(rgb, coarse, stretch=(_LOW, _HIGH), view=small)


def detail_pass(rgb: np.ndarray, coarse: np.ndarray, segmenter: Segmenter) -> np.ndarray:
    """The coarse matte, with the product's crop seen again at the network's full input size when
    the product is small in the frame. Returned at a resolution that keeps the crop's detail."""
    import cv2

    h, w = rgb.shape[:2]
    box = _product_box(coarse, (h, w))
    if box is None:
        return coarse
    top, bottom, left, right = box
    if (bottom - top) * (right - left) > DETAIL_MAX_SHARE * h * w:
        return coarse
    close = segmenter.predict([rgb[top:bottom, left:right]])[0]
    # Keep the fused matte at the scale the crop was seen at, so that its detail survives.
    long_side = min(max(h, w), round(max(coarse.shape) * max(h, w) / max(bottom - top, right - left)))
    fh, fw = max(1, round(h * long_side / max(h, w))), max(1, round(w * long_side / max(h, w)))
    fused = cv2.resize(coarse, (fw, fh), interpolation=cv2.INTER_LINEAR)
    t, b = round(top * fh / h), round(bottom * fh / h)
    lft, r = round(left * fw / w), round(right * fw / w)
    if b - t < 2 or r - lft < 2:
        return coarse
    seen = cv2.resize(close, (r - lft, b - t), interpolation=cv2.INTER_LINEAR)
    first = fused[t:b, lft:r]
    union = ((first > 0.5) | (seen > 0.5)).sum()
    if union == 0 or ((first > 0.5) & (seen > 0.5)).sum() < DETAIL_AGREEMENT * union:
        return coarse  # the two looks disagree about what the product is: keep the first
    fused[t:b, lft:r] = 0.5 * (first + seen)
    return np.asarray(fused, np.float32)


def is_thin(coarse: np.ndarray) -> bool:
    """Whether the network's sure region (> 0.5) is a thin line across much of the frame: its mean
    width (2 x area / perimeter, in the matte's pixels) is at most THIN_WIDTH and its box spans at
    least THIN_EXTENT of the matte. Measured on the network's own 320 px output: the thin set's
    chains on plain backgrounds are 3-4 px wide over 70 % of it; pens 8-11, the real set's rocket 9,
    ordinary products 30 and more."""
    import cv2

    sure = (coarse > 0.5).astype(np.uint8)
    area = int(sure.sum())
    if area == 0:
        return False
    ys, xs = np.nonzero(sure)
    extent = max((ys.max() - ys.min() + 1) / coarse.shape[0], (xs.max() - xs.min() + 1) / coarse.shape[1])
    if extent < THIN_EXTENT:
        return False
    contours, _ = cv2.findContours(sure, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    return 2.0 * area / max(perimeter, 1.0) <= THIN_WIDTH


def tiled_pass(rgb: np.ndarray, coarse: np.ndarray, segmenter: Segmenter) -> np.ndarray:
    """The coarse matte fused with a closer, tiled look over the product's box: tiles of TILE_SHARE
    of its longer side (2 x 2, overlapping), one network batch, blended with weights that fall to
    the tiles' edges (where a tile sees least context), brought to the photo's size, and fused with
    the first look by the maximum near where the first saw anything. Returned at the photo's size."""
    import cv2

    h, w = rgb.shape[:2]
    box = _product_box(coarse, (h, w))
    if box is None:
        return coarse
    top, bottom, left, right = box
    side = min(max(h, w), max(32, round(TILE_SHARE * max(bottom - top, right - left))))
    tiles = [
        (y, x, min(h, y + side), min(w, x + side))
        for y in _starts(top, bottom, side, h)
        for x in _starts(left, right, side, w)
    ]
    seen = segmenter.predict([rgb[y0:y1, x0:x1] for y0, x0, y1, x1 in tiles])
    total = np.zeros((h, w), np.float32)
    weight = np.zeros((h, w), np.float32)
    for (y0, x0, y1, x1), matte in zip(tiles, seen, strict=True):
        th, tw = y1 - y0, x1 - x0
        ramp_y = np.minimum(np.arange(1, th + 1), np.arange(th, 0, -1)).astype(np.float32)
        ramp_x = np.minimum(np.arange(1, tw + 1), np.arange(tw, 0, -1)).astype(np.float32)
        ramp = np.minimum(ramp_y[:, None], ramp_x[None, :])
        total[y0:y1, x0:x1] += cv2.resize(matte, (tw, th), interpolation=cv2.INTER_LINEAR) * ramp
        weight[y0:y1, x0:x1] += ramp
    closer = np.divide(total, weight, out=np.zeros_like(total), where=weight > 0)
    first = _upsample(coarse, (h, w))
    # The closer look may add only near what the first saw at all (a tile that finds some other
    # salient thing in the background adds nothing), and never takes away from the first.
    reach = max(3, round(NEAR_SHARE * max(h, w))) | 1
    near = cv2.dilate((first > NEAR_LEVEL).astype(np.uint8), np.ones((reach, reach), np.uint8))
    closer *= near
    np.maximum(first, closer, out=closer)
    return closer


def _starts(low: int, high: int, side: int, limit: int) -> list[int]:
    """Where tiles of `side` start so that two (or one, when it suffices) cover [low, high), kept
    inside [0, limit)."""
    if high - low <= side:
        return [max(0, min(low - (side - (high - low)) // 2, limit - side))]
    return [max(0, low), max(0, min(high - side, limit - side))]


def _product_box(coarse: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    h, w = shape
    ys, xs = np.nonzero(coarse > 0.3)
    if ys.size == 0:
        return None
    ch, cw = coarse.shape
    top, bottom = ys.min() * h / ch, (ys.max() + 1) * h / ch
    left, right = xs.min() * w / cw, (xs.max() + 1) * w / cw
    pad = DETAIL_MARGIN * max(bottom - top, right - left)
    box = (
        max(0, int(top - pad)),
        min(h, int(np.ceil(bottom + pad))),
        max(0, int(left - pad)),
        min(w, int(np.ceil(right + pad))),
    )
    if box[1] - box[0] < 16 or box[3] - box[2] < 16:
        return None
    return box


def _upsample(matte: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import cv2

    if matte.shape == shape:
        return matte.astype(np.float32, copy=False)
    return np.asarray(cv2.resize(matte, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR), np.float32)
