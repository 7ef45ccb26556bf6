"""Settings: every name in DESIGN.md, and errors an operator can act on instead of a traceback."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.errors import OperatorError
from bot.settings import Settings, load_settings


def test_defaults_are_the_embedded_ones(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path, _env_file=None)  # type: ignore[call-arg]
    assert s.effective_database_url == f"sqlite+aiosqlite:///{(tmp_path / 'nexoraz.sqlite3').resolve()}"
    assert (s.redis_url, s.http_host, s.http_port, s.telegram_mode) == ("", "127.0.0.1", 8080, "polling")
    assert (s.signup_credits, s.render_cost, s.policy_version) == (3, 1, date(2025, 10, 15))
    assert (s.retention_days_uploads, s.retention_days_outputs) == (30, 90)
    assert s.graph_api_base == "https://graph.facebook.com/v23.0"
    assert not (s.telegram_enabled or s.whatsapp_enabled or s.messenger_enabled)


def test_environment_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SIGNUP_CREDITS=5\nDATABASE_URL=postgresql://u@db:5432/nx\n")
    monkeypatch.setenv("RENDER_COST", "2")
    s = load_settings()
    assert (s.signup_credits, s.render_cost) == (5, 2)
    assert s.effective_database_url == "postgresql+asyncpg://u@db:5432/nx"


@pytest.mark.parametrize(
    ("name", "value", "hint"),
    [
        ("DATABASE_URL", "mysql://root@localhost/x", "DATABASE_URL: must start with postgresql"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: must start with redis://"),
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "TELEGRAM_BOT_TOKEN: does not look like a bot token"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces!", "TELEGRAM_WEBHOOK_SECRET: may hold only"),
        ("HTTP_PORT", "99999", "HTTP_PORT"),
        ("SIGNUP_CREDITS", "-1", "SIGNUP_CREDITS"),
        ("PUBLIC_BASE_URL", "example.com", "PUBLIC_BASE_URL: must be an http"),
        ("POLICY_VERSION", "yesterday", "POLICY_VERSION"),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, hint: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(OperatorError) as caught:
        load_settings()
    assert hint in str(caught.value)


def test_incomplete_platform_settings_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHATSAPP_ACCESS_TOKEN", "EAAG...")
    with pytest.raises(OperatorError, match="WHATSAPP_PHONE_NUMBER_ID"):
        load_settings()


def test_the_cli_prints_one_line_not_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "db", "upgrade"],
        env={"DATABASE_URL": "mysql://x", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("error: invalid settings: DATABASE_URL")
    assert "Traceback" not in result.stderr


def test_help_explains_every_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    for command in ("run", "db", "giveaway", "credits", "user"):
        assert command in result.stdout


def test_generated_key_is_private_and_stable(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "d", _env_file=None)  # type: ignore[call-arg]
    key = s.secret_key("identity")
    assert key == s.secret_key("identity") != s.secret_key("other")
    assert (tmp_path / "d" / "files.key").stat().st_mode & 0o777 == 0o600
