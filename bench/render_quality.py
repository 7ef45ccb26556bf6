"""Cutout quality per pipeline, on the real-photo set and the two synthetic sets (tests/render):
IoU / boundary F per photo (with holes and spill) and per kind, for each model and each variant of
the post-processing, so that every step shows what it earns.

    .venv/bin/python bench/render_quality.py [--models u2netp,u2net] [--sets real,real12,syn,thin,chains]
        [--variants raw,before,final,no-detail,no-tiles,no-holes,no-refine]

`real12` is the real set brought up to 12 MP and sent through `render.cutout` as a phone's JPEG would
be (the pipeline as shipped only): at the sets' own sizes (<= 640 px) the refinement never works at
a reduced scale, at 12 MP it does.

`before` is the pipeline as it was before issue 12 (holes on a loose colour match, no closer look).
"""

from __future__ import annotations

import argparse
import collections
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "render"))


def _variant(name: str) -> Callable[[list[np.ndarray], object], list[np.ndarray]]:
    import render.classical as classical
    from render.matte import Pipeline, _upsample, mattes

    def run(images: list[np.ndarray], seg: object) -> list[np.ndarray]:
        if name == "raw":
            return [_upsample(c, i.shape[:2]) for i, c in zip(images, seg.predict(images), strict=True)]  # type: ignore[attr-defined]
        pipeline = {
            "before": Pipeline(detail=False),
            "final": Pipeline(),
            "no-detail": Pipeline(detail=False),
            "no-tiles": Pipeline(tiles=False),
            "no-holes": Pipeline(holes=False),
            "no-refine": Pipeline(refine=False),
        }[name]
        saved = classical.HOLE_TIGHT_MATCH, classical.HOLE_FILLED
        if name == "before":
            classical.HOLE_TIGHT_MATCH, classical.HOLE_FILLED = float("inf"), 0.5
        try:
            return [a for a, _ in mattes(images, seg, pipeline)]  # type: ignore[arg-type]
        finally:
            classical.HOLE_TIGHT_MATCH, classical.HOLE_FILLED = saved

    return run


def _at_12_mp(image: np.ndarray, seg: object) -> np.ndarray:
    """A real photo as a phone would send it: brought up to 12 MP, a JPEG, through `render.cutout` (the
    user's path: draft decode, network, refinement at the working size); the alpha back at the photo's size."""
    import io

    from PIL import Image

    import render

    h, w = image.shape[:2]
    scale = (12_000_000 / (h * w)) ** 0.5
    big = Image.fromarray(image).resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    big.save(buf, "JPEG", quality=90)
    cut = render.cutout(buf.getvalue(), segmenter=seg)  # type: ignore[arg-type]
    canvas = Image.new("L", cut.canvas, 0)
    canvas.paste(cut.image.getchannel("A"), cut.box)
    return np.asarray(canvas.resize((w, h), Image.Resampling.BILINEAR), np.float32) / 255.0


def _holes_spill(alpha: np.ndarray, reference: np.ndarray, margin: int = 2) -> dict[str, float]:
    """Product the reference keeps that the cutout lost (holes) and background it kept (spill), as
    shares of the reference's product area, beyond `margin` pixels of the reference's edge."""
    import cv2

    product = (reference > 0.5).astype(np.uint8)
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    inner = cv2.erode(product, kernel).astype(bool)
    outer = cv2.dilate(product, kernel).astype(bool)
    kept = alpha > 0.5
    area = max(int(product.sum()), 1)
    return {"holes": float((inner & ~kept).sum() / area), "spill": float((kept & ~outer).sum() / area)}


def main() -> None:
    from render_evalset import chain_set, evaluation_set, metrics, thin_set
    from render_models import models_dir
    from render_realset import real_metrics, real_set

    import render

    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="u2netp")
    parser.add_argument("--sets", default="real,syn,thin")
    parser.add_argument("--variants", default="raw,before,final,no-detail,no-tiles,no-holes,no-refine")
    args = parser.parse_args()
    loaders = {"real": real_set, "real12": real_set, "syn": evaluation_set, "thin": thin_set, "chains": chain_set}
    for model in args.models.split(","):
        seg = render.load_segmenter(model, models_dir())
        for set_name in args.sets.split(","):
            items = loaders[set_name]()
            images = [x.image for x in items]
            for variant in ["final (12 MP, render.cutout)"] if set_name == "real12" else args.variants.split(","):
                if set_name == "real12":
                    alphas = [_at_12_mp(image, seg) for image in images]
                else:
                    alphas = _variant(variant)(images, seg)
                cells: list[str] = []
                if set_name.startswith("real"):
                    rows = [real_metrics(a, x.reference) for a, x in zip(alphas, items, strict=True)]  # type: ignore[attr-defined]
                    for x, r in zip(items, rows, strict=True):
                        cells.append(
                            f"{x.name} {r['iou']:.3f}/{r['bf']:.2f} holes {r['holes']:.1%} spill {r['spill']:.1%}"  # type: ignore[attr-defined]
                        )
                else:
                    rows = [metrics(a, x.alpha) | _holes_spill(a, x.alpha) for a, x in zip(alphas, items, strict=True)]  # type: ignore[attr-defined]
                    groups: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
                    for x, r in zip(items, rows, strict=True):
                        groups[x.shape if set_name == "thin" else x.kind].append(r)  # type: ignore[attr-defined]
                    for kind, rs in groups.items():
                        mean_of = {m: float(np.mean([r[m] for r in rs])) for m in ("iou", "bf", "holes", "spill")}
                        cells.append(
                            f"{kind} {mean_of['iou']:.3f}/{mean_of['bf']:.2f}"
                            f" holes {mean_of['holes']:.1%} spill {mean_of['spill']:.1%}"
                        )
                mean = f"{np.mean([r['iou'] for r in rows]):.3f}/{np.mean([r['bf'] for r in rows]):.3f}"
                print(f"| {model} | {variant} | {set_name} | {mean} | {'; '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
