"""The front process stays light: it never imports torch (render work runs in worker processes)."""

from __future__ import annotations

import subprocess
import sys


def test_the_front_process_never_imports_torch() -> None:
    code = (
        "import sys, bot.app, bot.cli, bot.workers, handlers.photos, handlers.results;"
        "import bot.cli.run_cmd, bot.cli.render_cmd, bot.cli.models_cmd;"
        "from bot.cli import build_parser; build_parser();"
        "heavy = [m for m in ('torch', 'cv2', 'onnx', 'render.u2net') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
