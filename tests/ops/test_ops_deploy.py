"""The deploy/ files as far as this machine allows: systemd verifies the units (pointed at this checkout),
ExecStart runs real CLI commands, the env example names only real settings, and the Containerfile installs
the way the README says and runs `python -m bot run`."""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = ("nexoraz.service", "nexoraz-worker@.service")


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / name).read_text())
    return parser


def cli_args(exec_start: str) -> list[str]:
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/nexoraz/.venv/bin/python" and argv[1:3] == ["-m", "bot"], argv
    return argv[3:]


@pytest.mark.parametrize("name", UNITS)
def test_exec_start_is_a_real_command(name: str) -> None:
    service = unit(name)["Service"]
    args = build_parser().parse_args(cli_args(service["ExecStart"]))
    assert args.command == ("run" if name == "nexoraz.service" else "worker")
    assert service["KillSignal"] == "SIGTERM"
    grace = getattr(args, "grace", 30.0)  # `run` drains for bot.app.STOP_GRACE_S = 30 s
    assert int(service["TimeoutStopSec"]) > grace, "systemd must not SIGKILL before the drain ends"


def test_systemd_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    for name in UNITS:
        text = (DEPLOY / name).read_text()
        text = text.replace("/opt/nexoraz/.venv/bin/python", sys.executable).replace("/opt/nexoraz", str(ROOT))
        text = text.replace("/etc/nexoraz/nexoraz.env", str(DEPLOY / "nexoraz.env.example"))
        (tmp_path / name).write_text(text)
    (tmp_path / "nexoraz-worker@1.service").write_text((tmp_path / "nexoraz-worker@.service").read_text())
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "nexoraz.service"), str(tmp_path / "nexoraz-worker@1.service")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    problems = [line for line in result.stderr.splitlines() if "nexoraz" in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_the_env_example_names_only_real_settings() -> None:
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (DEPLOY / "nexoraz.env.example").read_text(), re.MULTILINE)
    known = {field.upper() for field in Settings.model_fields}
    assert names and not set(names) - known, set(names) - known
    assert {"DATABASE_URL", "REDIS_URL", "FILES_KEY", "DATA_DIR", "HTTP_PORT"} <= set(names)


def test_the_containerfile_installs_like_the_readme_and_runs_the_bot() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "pip install -e '.[render,dev]'" in readme  # the README's install step ...
    assert "-m pip install" in text and "-e '.[render]'" in text  # ... minus the dev tools
    assert 'CMD ["python", "-m", "bot", "run"]' in text
    assert "STOPSIGNAL SIGTERM" in text and "/healthz" in text
    for source in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert (ROOT / source).exists(), source
    env_names = re.findall(r"\b([A-Z_]+)=", text.split("ENV ", 1)[1].split("\n\n", 1)[0])
    known = {field.upper() for field in Settings.model_fields} | {"PATH"}
    assert env_names and not set(env_names) - known
    for name in ("deploy/Containerfile", "nexoraz-worker@.service", "nexoraz.env.example", "/readyz", "db upgrade"):
        assert name in readme, name
