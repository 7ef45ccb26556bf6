"""The front process stays light: it never imports torch (render work runs in worker processes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_front_process_never_imports_torch() -> None:
    code = (
        "import sys, bot.app, bot.cli, bot.workers, handlers.photos, handlers.results;"
        "import bot.cli.run_cmd, bot.cli.render_cmd, bot.cli.models_cmd;"
        "from bot.cli import build_parser; build_parser();"
        "heavy = [m for m in ('torch', 'cv2', 'onnx', 'render.u2net') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_fronts_start_up_carries_no_image_stack(tmp_path: Path) -> None:
    """Deciding which segmenter to serve reads the weights' checksums only: importing `render` no longer
    loads numpy (about 20 MB of the front's resident memory; bench/front_end.py, issue 17)."""
    code = (
        "import sys, bot.app, bot.cli.run_cmd;"
        "from bot.settings import Settings; from bot.segmenter_policy import choose_segmenter;"
        f"choose_segmenter(Settings(data_dir={str(tmp_path)!r}, _env_file=None), strict=False);"
        "import render; render.WeightsError;"
        "heavy = [m for m in ('numpy', 'render.api') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
