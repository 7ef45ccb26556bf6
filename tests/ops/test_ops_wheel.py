"""The built wheel is a complete installation: locales, web assets and migrations ride inside it, and the bot
runs from a virtual environment outside the source tree (a `pip install .` deployment, the Containerfile)."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("nexoraz_chat-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel; its dependencies are borrowed from the test's environment
    through a plain path (the editable install of this checkout is not: `.pth` files there are not read)."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    deps = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "deps.pth").write_text(deps + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    return python


def run_outside(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "DATA_DIR", "TELEGRAM_"))}
    env["DATA_DIR"] = str(cwd / "data")
    return subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_wheel_carries_every_catalog_asset_and_migration(wheel: Path) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for lang in ("en", "bn"):
        for ftl in (ROOT / "locales" / lang).glob("*.ftl"):
            assert f"locales/{lang}/{ftl.name}" in names
    for asset in (ROOT / "bot" / "channels" / "static").iterdir():
        assert f"bot/channels/static/{asset.name}" in names
    for migration in (ROOT / "storage" / "migrations" / "versions").glob("*.py"):
        assert f"storage/migrations/versions/{migration.name}" in names
    assert "storage/migrations/script.py.mako" in names


def test_installed_wheel_runs_from_outside_the_tree(installed: Path, tmp_path: Path) -> None:
    where = run_outside(
        installed, "-c", "import bot, locales; print(bot.__file__); print(locales.LOCALES_DIR)", cwd=tmp_path
    )
    assert where.returncode == 0, where.stderr
    assert str(ROOT) not in where.stdout and str(installed.parents[1]) in where.stdout

    help_ = run_outside(installed, "-m", "bot", "--help", cwd=tmp_path)
    assert help_.returncode == 0, help_.stderr
    assert "render" in help_.stdout

    # The catalogs load from the installed package: a Bengali sentence comes back, not a missing-key id.
    text = run_outside(
        installed, "-c", "from handlers.i18n import catalog; print(catalog('bn')('help-outro'))", cwd=tmp_path
    )
    assert text.returncode == 0, text.stderr
    assert any("\u0980" <= ch <= "\u09ff" for ch in text.stdout)

    photo = tmp_path / "mug.jpg"
    image = Image.new("RGB", (320, 240), (235, 235, 230))
    image.paste((180, 40, 40), (110, 60, 210, 190))
    image.save(photo, quality=90)
    rendered = run_outside(installed, "-m", "bot", "render", str(photo), "--out", "out", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert any((tmp_path / "out").iterdir())
