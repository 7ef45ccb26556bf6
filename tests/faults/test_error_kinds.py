"""Issue #13, cases 2 and 3: what a failure *is* is decided by explicit lists, never by `getattr(error, "code")`
or "any OSError". A FileNotFoundError looped for ever as "transient"; aiohttp's ClientResponseError and
cv2.error carry an int `code` that failed jobs for good or broke the row's string column on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import exc as sa_exc

from bot import render_task
from storage.errors import is_transient


@pytest.mark.parametrize(
    "error",
    [
        FileNotFoundError("upload"),
        PermissionError("key"),
        IsADirectoryError("x"),
        OSError(5, "I/O error"),
        ValueError(),
    ],
)
def test_not_infrastructure(error: Exception) -> None:
    assert not is_transient(error)


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        ConnectionResetError(),
        BrokenPipeError(),
        TimeoutError(),
        sa_exc.OperationalError("SELECT 1", {}, Exception("database is locked")),
    ],
)
def test_infrastructure(error: Exception) -> None:
    assert is_transient(error)


def test_the_render_process_answers_codes_not_exceptions() -> None:
    result = render_task.render_photo(b"GIF89a" + b"\x00" * 186, ["white"], "original", "classical", None, None)
    assert result["failed"] == "unreadable" and "outputs" not in result
    assert render_task.compose_from_cutout(b"not a png", ["white"], "original")["failed"] in (
        "unreadable",
        "render_error",
    )


def test_an_error_with_an_int_code_is_a_render_error_string(monkeypatch: pytest.MonkeyPatch) -> None:
    class Cv2LikeError(Exception):
        code = -215  # cv2.error's assertion code: it used to become the job's error_code

    def explode(*_args: object) -> dict[str, object]:
        raise Cv2LikeError("(-215:Assertion failed) !_src.empty() in function 'cvtColor'")

    monkeypatch.setattr(render_task, "_render_photo", explode)
    result = render_task.render_photo(b"", ["white"], "original", "classical", None, None)
    assert result["failed"] == "render_error" and isinstance(result["failed"], str)
    assert "Cv2LikeError" in result["detail"]
