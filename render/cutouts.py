"""The cutout: the product once separated (RGBA, decontaminated edges), plus how sure we are.

It is computed once per photo; every style and size is composed from it, so re-styling needs no new
segmentation. `to_bytes`/`from_bytes` let a worker cache it as a PNG.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, PngImagePlugin

from render.decoding import MAX_PIXELS
from render.errors import ImageTooLarge, UnreadableImage

_CHUNK = "nexoraz-cutout"

# Reason codes for `hard_photo`; the chat side turns them into advice (e.g. "try a plainer background").
SUBJECT_TOO_SMALL = "subject_too_small"
SUBJECT_TOO_LARGE = "subject_too_large"
SUBJECT_CUT_OFF = "subject_touches_borders"
UNCERTAIN_EDGES = "uncertain_edges"


@dataclass(frozen=True)
class Cutout:
    """`image`: RGBA crop of the product; `canvas`: size of the (capped) photo it came from; `box`:
    where the crop sat in it (left, top); `hard_photo` + `reason`: the confidence signal."""

    image: Image.Image
    canvas: tuple[int, int]
    box: tuple[int, int]
    hard_photo: bool
    reason: str | None
    confidence: float
    segmenter: str = ""

    def to_bytes(self) -> bytes:
        meta = {
            "v": 1,
            "canvas": list(self.canvas),
            "box": list(self.box),
            "hard_photo": self.hard_photo,
            "reason": self.reason,
            "confidence": self.confidence,
            "segmenter": self.segmenter,
        }
        info = PngImagePlugin.PngInfo()
        info.add_text(_CHUNK, json.dumps(meta))
        buf = io.BytesIO()
        self.image.save(buf, "PNG", compress_level=1, pnginfo=info)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Cutout:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            try:
                image = Image.open(io.BytesIO(data), formats=["PNG"])
                if image.size[0] * image.size[1] > MAX_PIXELS:
                    raise ImageTooLarge(f"{image.size}")
                image.load()
                meta = json.loads(image.text[_CHUNK])  # type: ignore[attr-defined]
                result = cls(
                    image=image.convert("RGBA"),
                    canvas=(int(meta["canvas"][0]), int(meta["canvas"][1])),
                    box=(int(meta["box"][0]), int(meta["box"][1])),
                    hard_photo=bool(meta["hard_photo"]),
                    reason=None if meta["reason"] is None else str(meta["reason"]),
                    confidence=float(meta["confidence"]),
                    segmenter=str(meta.get("segmenter", "")),
                )
            except (
                OSError,
                ValueError,
                KeyError,
                TypeError,
                SyntaxError,
                Image.DecompressionBombWarning,
            ) as exc:
                raise UnreadableImage(f"not a cutout: {type(exc).__name__}") from None
        result.image.info = {}
        return result


def assess(alpha: np.ndarray, coarse: np.ndarray) -> tuple[bool, str | None, float]:
    """(hard_photo, reason, confidence in [0, 1]) from the final matte and the backend's coarse one."""
    solid = alpha > 0.5
    area = float(solid.mean())
    uncertain = float(((coarse > 0.15) & (coarse < 0.85)).mean())
    coarse_area = max(float((coarse > 0.5).mean()), 1e-6)
    confidence = float(np.clip(1.0 - 2.0 * uncertain / (uncertain + coarse_area), 0.0, 1.0))
    touched = [float(edge.mean()) > 0.05 for edge in (solid[0], solid[-1], solid[:, 0], solid[:, -1])]
    spans = (touched[0] and touched[1]) or (touched[2] and touched[3])
    if area < 0.01:
        return True, SUBJECT_TOO_SMALL, min(confidence, 0.3)
    if area > 0.9:
        return True, SUBJECT_TOO_LARGE, min(confidence, 0.3)
    if sum(touched) >= 3 or spans:
        return True, SUBJECT_CUT_OFF, min(confidence, 0.4)
    if confidence < 0.5:
        return True, UNCERTAIN_EDGES, confidence
    return False, None, confidence
