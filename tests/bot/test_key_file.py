"""Issue #13, case 11: the master key file. It was created with a non-atomic exists/touch/write/read, so a
second process starting at the same time read it empty (1 in 10 tries), and an empty or short key was
accepted: every derived secret then came from b"", which anyone can compute."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.errors import OperatorError
from bot.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
READ_KEY = """
import sys, time
from pathlib import Path
from bot.settings import Settings
start = float(sys.argv[2])
while time.time() < start:
    pass
settings = Settings(_env_file=None, data_dir=Path(sys.argv[1]), files_key="")
print(settings.secret_key("files").hex())
"""


def test_processes_starting_together_share_one_complete_key(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("FILES_KEY", None)
    for round_ in range(4):
        data_dir = tmp_path / f"round-{round_}"
        start = time.time() + 4.0  # every process spins until the same moment, then creates the key
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", READ_KEY, str(data_dir), str(start)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        results = [p.communicate(timeout=60) for p in processes]
        assert all(p.returncode == 0 for p in processes), [err for _, err in results]
        keys = {out.strip() for out, _ in results}
        assert len(keys) == 1, keys
        stored = (data_dir / "files.key").read_bytes().strip()
        assert len(stored) >= 32
        assert not list(data_dir.glob(".files.key.*"))  # no temporary file left behind
        assert (data_dir / "files.key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("content", [b"", b"\n", b"short-key"])
def test_an_empty_or_short_key_file_is_refused_in_one_line(tmp_path: Path, content: bytes) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "files.key").write_bytes(content)
    settings = Settings(_env_file=None, data_dir=data_dir)  # type: ignore[call-arg]
    with pytest.raises(OperatorError, match="fewer than 32") as error:
        settings.secret_key("files")
    assert "\n" not in str(error.value)


def test_a_short_files_key_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FILES_KEY", "too-short")
    with pytest.raises(OperatorError, match="FILES_KEY: must be at least 32 bytes"):
        load_settings(_env_file=None)
