"""What runs inside a render worker process. Only this process imports the render core (and so torch).

Functions take and return plain bytes and lists so they cross the process boundary cheaply. A photo that
cannot be made comes back as `{"failed": code, "detail": ...}`, never as an exception: the render core's
typed errors keep their code, and anything else the libraries raise on a hostile photo (cv2.error, a
decoder's IndexError) is "render_error". The front never needs to import the render core to tell them apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

RenderResult = dict[str, Any]
"""{"cutout": PNG bytes, "outputs": [(name, mime, bytes)], "hard_photo": bool, "reason": str | None,
"upload": (mime, bytes): the photo as stored, upright and re-encoded from pixels alone (no EXIF, GPS, XMP)}"""


def lower_priority(niceness: int) -> None:
    """A render process's first step: it yields the CPU to the front (a message's answer is waited for by a
    person; a render by a queue). Renders that share a core with the front no longer hold its answers up:
    `bench/load.py --render-load` on 2 cores, p95 186-209 ms -> 126-127 ms (bench/RESULTS.md, issue 17)."""
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)


def _as_failure(work: Callable[[], RenderResult]) -> RenderResult:
    from render.errors import RenderError

    try:
        return work()
    except RenderError as error:
        return {"failed": error.code, "detail": f"{type(error).__name__}: {error.detail}"[:300]}
    except Exception as error:
        return {"failed": "render_error", "detail": f"{type(error).__name__}: {error}"[:300]}


def render_photo(
    data: bytes, styles: list[str], size: str, segmenter: str, models_dir: str | None, weights: str | None
) -> RenderResult:
    return _as_failure(lambda: _render_photo(data, styles, size, segmenter, models_dir, weights))


def _render_photo(
    data: bytes, styles: list[str], size: str, segmenter: str, models_dir: str | None, weights: str | None
) -> RenderResult:
    import render

    seg = render.default_segmenter(
        segmenter, Path(models_dir) if models_dir else None, Path(weights) if weights else None
    )
    cut = render.cutout(data, segmenter=seg)
    return _compose(cut, styles, size) | {"cutout": cut.to_bytes(), "upload": _pixels_only(data)}


def _pixels_only(data: bytes) -> tuple[str, bytes]:
    """The privacy policy promises stored uploads keep no EXIF/GPS: keep the pixels, drop everything else.
    A JPEG loses its metadata without a decode (render/strip.py); anything else, or a JPEG whose EXIF turns
    it, is decoded and encoded again."""
    import io

    import render
    from render.strip import strip_jpeg

    if (stripped := strip_jpeg(data)) is not None:
        return "image/jpeg", stripped

    image = render.decode(data)
    out = io.BytesIO()
    if image.mode in ("RGBA", "LA", "PA"):
        image.save(out, "PNG", compress_level=3)
        return "image/png", out.getvalue()
    image.convert("RGB").save(out, "JPEG", quality=95)
    return "image/jpeg", out.getvalue()


def compose_from_cutout(cutout_png: bytes, styles: list[str], size: str) -> RenderResult:
    return _as_failure(lambda: _compose_from_cutout(cutout_png, styles, size))


def _compose_from_cutout(cutout_png: bytes, styles: list[str], size: str) -> RenderResult:
    import render

    return _compose(render.Cutout.from_bytes(cutout_png), styles, size) | {"cutout": None}


def _compose(cut: Any, styles: list[str], size: str) -> RenderResult:
    import render

    outputs = [(o.name, o.mime, o.data) for style in styles for o in render.compose_outputs(cut, style, size)]
    return {"outputs": outputs, "hard_photo": bool(cut.hard_photo), "reason": cut.reason}


def warm_up(segmenter: str, models_dir: str | None, weights: str | None) -> str:
    """Load the segmenter once when the worker process starts, so the first photo is not slow."""
    import render

    seg = render.default_segmenter(
        segmenter, Path(models_dir) if models_dir else None, Path(weights) if weights else None
    )
    return str(getattr(seg, "name", "segmenter"))
