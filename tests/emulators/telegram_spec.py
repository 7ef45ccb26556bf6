"""Validation of Bot API calls against the machine-readable spec (`tests/specs/telegram-bot-api.json`).

Parameters arrive as form fields (strings; objects and arrays as JSON text, files as multipart parts, the
way aiogram and every other client sends them) or as a JSON body (typed values). Every parameter is checked
against the method's field list: unknown names, missing required ones and values of the wrong type are
refused with a Bot API style 400, recursively through objects, arrays and abstract types (`BotCommandScope`,
`InputMedia`...: the concrete type is chosen by the object's `type` field).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(
    os.environ.get("TELEGRAM_SPEC", Path(__file__).resolve().parents[1] / "specs" / "telegram-bot-api.json")
)
_MUST_BE = re.compile(r"must be ([a-z_]+)")
_INTEGER = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


class ApiError(Exception):
    """A Bot API error answer: {"ok": false, "error_code": status, "description": ...}."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.status, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class Spec:
    methods: dict[str, Any]
    types: dict[str, Any]
    _by_lower: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_lower = {name.lower(): name for name in self.methods}

    def method_name(self, name: str) -> str:
        """The canonical name (method names are case-insensitive); 404 Not Found for unknown ones."""
        canonical = self._by_lower.get(name.lower())
        if canonical is None:
            raise ApiError(404, "Not Found")
        return canonical

    def check_call(
        self, method: str, params: dict[str, Any], uploads: dict[str, Upload], *, form: bool
    ) -> dict[str, Any]:
        """The parameters decoded to JSON values, or ApiError 400."""
        fields = {f["name"]: f for f in self.methods[method].get("fields", [])}
        for name in params:
            if name not in fields:
                raise bad(f"unknown parameter {name!r} for method {method}")
        decoded: dict[str, Any] = {}
        for name, spec in fields.items():
            if name not in params:
                if name in uploads and any(t == "InputFile" for t in spec["types"]):
                    decoded[name] = uploads[name]
                    continue
                if spec["required"]:
                    raise bad(f"parameter {name!r} is required")
                continue
            decoded[name] = self.value(spec["types"], params[name], name, uploads, form=form)
        return decoded

    def value(self, types: list[str], value: Any, path: str, uploads: dict[str, Upload], *, form: bool) -> Any:
        first: ApiError | None = None
        for type_name in types:
            try:
                return self._one(type_name, value, path, uploads, form=form)
            except ApiError as error:
                first = first or error
        assert first is not None
        raise first

    def _one(self, type_name: str, value: Any, path: str, uploads: dict[str, Upload], *, form: bool) -> Any:
        if type_name.startswith("Array of "):
            if form and isinstance(value, str):
                value = _json(value, path)
            if not isinstance(value, list):
                raise bad(f"field {path!r} must be an Array")
            inner = type_name.removeprefix("Array of ")
            return [self._one(inner, item, f"{path}[{i}]", uploads, form=False) for i, item in enumerate(value)]
        if type_name == "Integer":
            if form and isinstance(value, str) and _INTEGER.match(value):
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise bad(f"field {path!r} must be of type Integer")
        if type_name == "Float":
            if form and isinstance(value, str) and _FLOAT.match(value):
                return float(value)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
            raise bad(f"field {path!r} must be of type Float")
        if type_name == "Boolean":
            if form and value in ("true", "false", "True", "False"):
                return value.lower() == "true"
            if isinstance(value, bool):
                return value
            raise bad(f"field {path!r} must be of type Boolean")
        if type_name == "String":
            if isinstance(value, str):
                _check_attachment(value, path, uploads)
                # "attach://<part>" in InputMedia: the uploaded file itself stands in for the reference
                return uploads[value.removeprefix("attach://")] if value.startswith("attach://") else value
            raise bad(f"field {path!r} must be of type String")
        if type_name == "InputFile":
            if isinstance(value, Upload):
                return value
            if isinstance(value, str) and value.startswith("attach://"):
                _check_attachment(value, path, uploads)
                return uploads[value.removeprefix("attach://")]
            raise bad(f"field {path!r} must be a file upload")
        return self._object(type_name, value, path, uploads, form=form)

    def _object(self, type_name: str, value: Any, path: str, uploads: dict[str, Upload], *, form: bool) -> Any:
        definition = self.types.get(type_name)
        if definition is None:
            raise bad(f"field {path!r}: unknown type {type_name}")
        if form and isinstance(value, str):
            value = _json(value, path)
        if not isinstance(value, dict):
            raise bad(f"field {path!r} must be an Object of type {type_name}")
        subtypes = definition.get("subtypes")
        if subtypes:
            return self._object(self._subtype(type_name, subtypes, value, path), value, path, uploads, form=False)
        fields = {f["name"]: f for f in definition.get("fields", [])}
        for name in value:
            if name not in fields:
                raise bad(f"field {path!r}: unknown field {name!r} in {type_name}")
        checked: dict[str, Any] = {}
        for name, spec in fields.items():
            if name not in value:
                if spec["required"]:
                    raise bad(f"field {path!r}: {type_name} requires {name!r}")
                continue
            checked[name] = self.value(spec["types"], value[name], f"{path}.{name}", uploads, form=False)
            constant = _MUST_BE.search(spec.get("description", "")) if name == "type" else None
            if constant and checked[name] != constant.group(1):
                raise bad(f"field {path!r}: type must be {constant.group(1)!r} in {type_name}")
        return checked

    def _subtype(self, type_name: str, subtypes: list[str], value: dict[str, Any], path: str) -> str:
        for candidate in subtypes:
            fields = {f["name"]: f for f in self.types[candidate].get("fields", [])}
            kind = fields.get("type")
            constant = _MUST_BE.search(kind.get("description", "")) if kind else None
            if constant and value.get("type") == constant.group(1):
                return str(candidate)
        raise bad(f"field {path!r}: {value.get('type')!r} is not a valid {type_name} type")


def _json(text: str, path: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise bad(f"can't parse JSON in field {path!r}") from None


def _check_attachment(value: str, path: str, uploads: dict[str, Upload]) -> None:
    if value.startswith("attach://") and value.removeprefix("attach://") not in uploads:
        raise bad(f"field {path!r}: file {value!r} was not uploaded")


@cache
def load_spec(path: Path = SPEC_PATH) -> Spec:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Spec(methods=data["methods"], types=data["types"])
