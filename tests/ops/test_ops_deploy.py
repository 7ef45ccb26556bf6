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
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    problems = [line for line in result.stderr.splitlines() if "nexoraz" in line]
    assert result.returncode == 0 and not problems, result.stderr


def _setting_names() -> set[str]:
    return {field.upper() for field in Settings.model_fields}


def test_the_env_example_names_every_setting_and_only_real_ones() -> None:
    names = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (DEPLOY / "nexoraz.env.example").read_text(), re.MULTILINE))
    assert names == _setting_names(), (names - _setting_names(), _setting_names() - names)


def test_the_readme_table_explains_every_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}
    assert named == _setting_names(), (named - _setting_names(), _setting_names() - named)


def test_one_models_dir_in_every_deployment_path() -> None:
    env = (DEPLOY / "nexoraz.env.example").read_text()
    (models,) = re.findall(r"^MODELS_DIR=(\S+)$", env, re.MULTILINE)
    assert f"MODELS_DIR={models}" in (DEPLOY / "Containerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert f"sudo MODELS_DIR={models} .venv/bin/python -m bot models fetch" in readme


def test_the_containerfile_installs_like_the_readme_and_runs_the_bot() -> None:
    text = (DEPLOY / "Containerfile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "pip install --extra-index-url https://download.pytorch.org/whl/cpu '.[render]'" in readme
    assert "-m pip install" in text and "'/tmp/src[render]'" in text  # the wheel, without the dev tools ...
    assert not re.search(r"pip install[^\n]* -e ", text)  # ... and not editable
    assert 'CMD ["python", "-m", "bot", "run"]' in text
    assert "STOPSIGNAL SIGTERM" in text and "/healthz" in text
    for source in re.findall(r"^COPY (\S+) ", text, re.MULTILINE):
        assert (ROOT / source).exists(), source
    env_names = re.findall(r"\b([A-Z_]+)=", text.split("ENV ", 1)[1].split("\n\n", 1)[0])
    known = {field.upper() for field in Settings.model_fields} | {"PATH"}
    assert env_names and not set(env_names) - known
    for name in ("deploy/Containerfile", "nexoraz-worker@.service", "nexoraz.env.example", "/readyz", "db upgrade"):
        assert name in readme, name
