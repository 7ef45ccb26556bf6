"""A Graph API emulator on loopback for the WhatsApp Cloud API and the Messenger Send API.

It serves over real HTTP what the adapters call, validates every outgoing WhatsApp message against the
`Message` schema of tests/specs/whatsapp-business-messaging-api_v23.0.yaml (plus the documented limits
the schema leaves out), enforces Messenger's documented limits, can be told to fail for a while, and
records every call. A request it refuses is answered like Meta does (HTTP 400, Graph error code 100) and
kept in `rejections`, which a test asserts to be empty.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from aiohttp import BodyPartReader, web

SPEC = Path(__file__).resolve().parents[1] / "specs" / "whatsapp-business-messaging-api_v23.0.yaml"
VERSION = "v23.0"
IMAGE_LIMIT, DOCUMENT_LIMIT, ATTACHMENT_LIMIT = 5 * 1024 * 1024, 100 * 1024 * 1024, 25 * 1024 * 1024


@cache
def _components() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open(encoding="utf-8") as handle:
        spec = yaml.load(handle, Loader=loader)  # noqa: S506 (a safe loader)
    return dict(spec["components"]["schemas"])


def _flatten(schema: Any, schemas: dict[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """Inline $refs and merge `allOf` parts: the spec pairs `allOf` with `additionalProperties: false`,
    which plain JSON Schema would read as forbidding the shared properties of BaseMessageProperties."""
    if isinstance(schema, list):
        return [_flatten(item, schemas, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        name = ref.rsplit("/", 1)[1]
        return {} if name in seen else _flatten(schemas[name], schemas, seen | {name})
    flat = {key: _flatten(value, schemas, seen) for key, value in schema.items() if key != "discriminator"}
    parts = flat.pop("allOf", None)
    if parts:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for part in parts:
            merged["properties"].update(part.get("properties", {}))
            merged["required"] += [r for r in part.get("required", []) if r not in merged["required"]]
            if part.get("additionalProperties") is False:
                merged["additionalProperties"] = False
        flat = {**merged, **{k: v for k, v in flat.items() if k not in merged}}
    return flat


@cache
def message_validator(kind: str | None = None) -> jsonschema.protocols.Validator:
    """The spec's `Message` schema, or the one its discriminator maps `kind` to (clearer errors)."""
    schemas = _components()
    mapping = schemas["Message"]["discriminator"]["mapping"]
    name = mapping[kind].rsplit("/", 1)[1] if kind in mapping else "Message"
    return jsonschema.Draft202012Validator(_flatten(copy.deepcopy(schemas[name]), schemas))


READ_RECEIPT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["messaging_product", "status", "message_id"],
    "properties": {
        "messaging_product": {"const": "whatsapp"},
        "status": {"const": "read"},
        "message_id": {"type": "string", "minLength": 1},
        "typing_indicator": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {"type": {"const": "text"}},
        },
    },
}


@dataclass
class Call:
    method: str
    path: str
    platform: str  # "whatsapp" | "messenger" | "download"
    body: Any
    status: int = 200


@dataclass
class _Media:
    data: bytes
    mime: str
    name: str = ""
    declared_size: int | None = None


@dataclass
class GraphEmulator:
    whatsapp_token: str = "wa-token"
    page_token: str = "page-token"
    phone_number_id: str = "106540352242922"
    calls: list[Call] = field(default_factory=list)
    rejections: list[tuple[str, str]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    url: str = ""
    _media: dict[str, _Media] = field(default_factory=dict)
    _attachments: dict[str, _Media] = field(default_factory=dict)
    _cdn: dict[str, bytes] = field(default_factory=dict)
    _failures: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(9_000_000_001))
    _runner: web.AppRunner | None = None

    # Life cycle ---------------------------------------------------------------------------------

    async def start(self) -> GraphEmulator:
        message_validator()  # load the spec before the first request
        app = web.Application(client_max_size=200 * 1024 * 1024)
        app.router.add_get(f"/{VERSION}/{{node}}", self._get_node)
        app.router.add_post(f"/{VERSION}/{{node}}/{{edge}}", self._post_edge)
        app.router.add_get("/files/{key}", self._download)
        app.router.add_get("/cdn/{key}", self._cdn_file)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        """What GRAPH_API_BASE is set to."""
        return f"{self.url}/{VERSION}"

    # Test controls ------------------------------------------------------------------------------

    def add_media(self, data: bytes, mime: str, *, declared_size: int | None = None) -> str:
        """A file a WhatsApp user sent: its media id."""
        media_id = str(next(self._ids))
        self._media[media_id] = _Media(data, mime, declared_size=declared_size)
        return media_id

    def add_attachment_url(self, data: bytes) -> str:
        """A file a Messenger user sent: its (expiring) CDN URL."""
        key = hashlib.sha256(data).hexdigest()[:16] + str(next(self._ids))
        self._cdn[key] = data
        return f"{self.url}/cdn/{key}?oh=signature"

    def expire_attachments(self) -> None:
        self._cdn.clear()

    def fail(self, kind: str, times: int = 1) -> None:
        """The next `times` sends answer `kind`: "rate" (429), "server" (500), "window"
        (outside 24 h) or "blocked" (the user cannot be reached)."""
        self._failures += [kind] * times

    def sent(self, platform: str) -> list[dict[str, Any]]:
        """Accepted message sends (not read receipts or sender actions), in order."""
        return [
            c.body
            for c in self.calls
            if c.platform == platform
            and c.status == 200
            and c.path.endswith("/messages")
            and isinstance(c.body, dict)
            and ("type" in c.body or "message" in c.body)
        ]

    def uploaded(self, media_id: str) -> _Media:
        return self._media.get(media_id) or self._attachments[media_id]

    # Handlers -----------------------------------------------------------------------------------

    async def _get_node(self, request: web.Request) -> web.Response:
        node = request.match_info["node"]
        call = self._record(request, "whatsapp", None)
        if not self._authorized(request, self.whatsapp_token):
            return self._error(call, 401, 190, "Invalid OAuth access token.")
        media = self._media.get(node)
        if media is None:
            return self._error(call, 400, 100, f"Unsupported get request. Object with ID '{node}' does not exist.")
        return web.json_response(
            {
                "url": f"{self.url}/files/{node}",
                "mime_type": media.mime,
                "sha256": hashlib.sha256(media.data).hexdigest(),
                "file_size": str(media.declared_size if media.declared_size is not None else len(media.data)),
                "id": node,
                "messaging_product": "whatsapp",
            }
        )

    async def _download(self, request: web.Request) -> web.Response:
        call = self._record(request, "download", None)
        if not self._authorized(request, self.whatsapp_token):
            return self._error(call, 401, 190, "Invalid OAuth access token.")
        media = self._media.get(request.match_info["key"])
        if media is None:
            return self._error(call, 404, 100, "not found")
        return web.Response(body=media.data, content_type=media.mime)

    async def _cdn_file(self, request: web.Request) -> web.Response:
        call = self._record(request, "download", None)
        if "Authorization" in request.headers:
            return self._error(call, 400, 100, "a CDN URL takes no token")
        data = self._cdn.get(request.match_info["key"])
        if data is None:
            return self._error(call, 403, 100, "URL signature expired")
        return web.Response(body=data, content_type="application/octet-stream")

    async def _post_edge(self, request: web.Request) -> web.Response:
        node, edge = request.match_info["node"], request.match_info["edge"]
        platform = "messenger" if node == "me" else "whatsapp"
        multipart = request.content_type.startswith("multipart/")
        body: Any = await self._form(request) if multipart else await _json(request)
        call = self._record(request, platform, body)
        token = self.page_token if platform == "messenger" else self.whatsapp_token
        if not self._authorized(request, token):
            return self._error(call, 401, 190, "Invalid OAuth access token.")
        if platform == "whatsapp" and node != self.phone_number_id:
            return self._error(call, 400, 100, f"Unknown phone number id {node}")
        route = {
            ("whatsapp", "messages"): self._wa_message,
            ("whatsapp", "media"): self._wa_upload,
            ("messenger", "messages"): self._fb_message,
            ("messenger", "message_attachments"): self._fb_upload,
            ("messenger", "messenger_profile"): self._fb_profile,
        }.get((platform, edge))
        if route is None:
            return self._error(call, 400, 100, f"Unknown path components: /{edge}")
        if edge == "messages" and self._failures:
            return self._failure(call, platform, self._failures.pop(0))
        problem, answer = route(body)
        if problem:
            self.rejections.append((call.path, problem))
            return self._error(call, 400, 100, f"(#100) Invalid parameter: {problem}")
        return web.json_response(answer)

    # WhatsApp -----------------------------------------------------------------------------------

    def _wa_message(self, body: Any) -> tuple[str | None, dict[str, Any]]:
        if isinstance(body, dict) and body.get("status") == "read":
            errors = sorted(jsonschema.Draft202012Validator(READ_RECEIPT).iter_errors(body), key=str)
            return (errors[0].message if errors else None), {"success": True}
        kind = body.get("type") if isinstance(body, dict) else None
        errors = list(message_validator(kind if isinstance(kind, str) else None).iter_errors(body))
        if errors:
            best = jsonschema.exceptions.best_match(errors)
            return f"schema: {best.message} at {list(best.absolute_path)}", {}
        problem = _wa_limits(body, self._media)
        if problem:
            return problem, {}
        wamid = f"wamid.{next(self._ids)}"
        return None, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid}],
        }

    def _wa_upload(self, form: Any) -> tuple[str | None, dict[str, Any]]:
        if not isinstance(form, dict) or form.get("messaging_product") != "whatsapp":
            return "messaging_product must be whatsapp", {}
        upload = form.get("file")
        if not isinstance(upload, _Media):
            return "file is required", {}
        limit = IMAGE_LIMIT if upload.mime in ("image/jpeg", "image/png") else DOCUMENT_LIMIT
        if len(upload.data) > max(limit, DOCUMENT_LIMIT):
            return "file too large", {}
        media_id = str(next(self._ids))
        self._media[media_id] = upload
        return None, {"id": media_id}

    # Messenger ----------------------------------------------------------------------------------

    def _fb_message(self, body: Any) -> tuple[str | None, dict[str, Any]]:
        if not isinstance(body, dict) or not _dict(body.get("recipient")).get("id"):
            return "recipient.id is required", {}
        answer = {"recipient_id": body["recipient"]["id"], "message_id": f"m_{next(self._ids)}"}
        if "sender_action" in body:
            ok = body["sender_action"] in ("mark_seen", "typing_on", "typing_off") and "message" not in body
            return (None if ok else "bad sender_action"), answer
        if body.get("messaging_type") not in ("RESPONSE", "UPDATE", "MESSAGE_TAG"):
            return "messaging_type must be RESPONSE, UPDATE or MESSAGE_TAG", {}
        return _fb_message_problem(_dict(body.get("message")), self._attachments), answer

    def _fb_upload(self, form: Any) -> tuple[str | None, dict[str, Any]]:
        if not isinstance(form, dict) or not isinstance(form.get("filedata"), _Media):
            return "filedata is required", {}
        try:
            attachment = json.loads(form.get("message", ""))["attachment"]
        except (ValueError, KeyError, TypeError):
            return "message must be JSON with an attachment", {}
        if attachment.get("type") not in ("image", "file", "audio", "video"):
            return "attachment.type", {}
        if len(form["filedata"].data) > ATTACHMENT_LIMIT:
            return "attachment too large", {}
        attachment_id = str(next(self._ids))
        self._attachments[attachment_id] = form["filedata"]
        return None, {"attachment_id": attachment_id}

    def _fb_profile(self, body: Any) -> tuple[str | None, dict[str, Any]]:
        if not isinstance(body, dict):
            return "expected an object", {}
        payload = _dict(body.get("get_started")).get("payload")
        if "get_started" in body and not (isinstance(payload, str) and 0 < len(payload) <= 1000):
            return "get_started.payload", {}
        for greeting in body.get("greeting", []):
            if not 0 < len(greeting.get("text", "")) <= 160 or not greeting.get("locale"):
                return "greeting", {}
        menus = body.get("persistent_menu", [])
        if menus and "default" not in [m.get("locale") for m in menus]:
            return "persistent_menu needs a default locale", {}
        for menu in menus:
            actions = menu.get("call_to_actions", [])
            if not 0 < len(actions) <= 20 or any(not 0 < len(a.get("title", "")) <= 30 for a in actions):
                return "persistent_menu items", {}
        if menus and "get_started" not in body and "get_started" not in self.profile:
            return "a persistent menu needs the Get Started button", {}
        self.profile.update(body)
        return None, {"result": "success"}

    # Helpers ------------------------------------------------------------------------------------

    def _record(self, request: web.Request, platform: str, body: Any) -> Call:
        call = Call(request.method, request.path, platform, body)
        self.calls.append(call)
        return call

    @staticmethod
    def _authorized(request: web.Request, token: str) -> bool:
        header = request.headers.get("Authorization", "")
        return header == f"Bearer {token}" or request.query.get("access_token") == token

    def _failure(self, call: Call, platform: str, kind: str) -> web.Response:
        if kind == "rate":
            code = 130429 if platform == "whatsapp" else 613
            return self._error(call, 429, code, "Rate limit hit")
        if kind == "blocked":
            return self._error(call, 400, 551 if platform == "messenger" else 131026, "This person isn't available")
        if kind == "window":
            if platform == "whatsapp":
                return self._error(call, 400, 131047, "Re-engagement message")
            return self._error(call, 400, 10, "Outside of allowed window", subcode=2018278)
        return self._error(call, 500, 1, "An unknown error occurred")

    @staticmethod
    def _error(call: Call, status: int, code: int, message: str, *, subcode: int | None = None) -> web.Response:
        call.status = status
        error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Aemu"}
        if subcode:
            error["error_subcode"] = subcode
        return web.json_response({"error": error}, status=status)

    @staticmethod
    async def _form(request: web.Request) -> dict[str, Any]:
        form: dict[str, Any] = {}
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue
            if part.filename is not None:
                mime = part.headers.get("Content-Type", "application/octet-stream")
                form[part.name or ""] = _Media(bytes(await part.read()), mime, part.filename)
            else:
                form[part.name or ""] = await part.text()
        return form


def _wa_limits(body: dict[str, Any], media: dict[str, _Media]) -> str | None:
    """What the schema does not say but the Cloud API enforces."""
    kind = body["type"]
    if kind == "text":
        text = body["text"].get("body", "")
        if not 0 < len(text) <= 4096:
            return "text.body must be 1 to 4096 characters"
    if kind == "interactive":
        interactive = body["interactive"]
        if not _dict(interactive.get("body")).get("text"):
            return "interactive.body.text is required"
        action = interactive["action"]
        if interactive["type"] == "button":
            titles = [b["reply"]["title"] for b in action["buttons"]]
            ids = [b["reply"]["id"] for b in action["buttons"]]
            if len(set(titles)) != len(titles) or len(set(ids)) != len(ids) or not all(titles):
                return "button titles and ids must be unique and non-empty"
        if interactive["type"] == "list":
            rows = [row for section in action["sections"] for row in section.get("rows", [])]
            if not 0 < len(rows) <= 10 or len({r["id"] for r in rows}) != len(rows):
                return "a list has 1 to 10 rows in all, with unique ids"
            if len(action["sections"]) > 1 and not all(s.get("title") for s in action["sections"]):
                return "sections need titles when there are several"
    if kind in ("image", "document"):
        item = body[kind]
        if "id" in item:
            uploaded = media.get(item["id"])
            if uploaded is None:
                return f"{kind}.id is not an uploaded media id"
            too_big = len(uploaded.data) > IMAGE_LIMIT
            if kind == "image" and (uploaded.mime not in ("image/jpeg", "image/png") or too_big):
                return "images must be JPEG or PNG of at most 5 MB"
        if len(item.get("caption", "")) > 1024:
            return "caption over 1024 characters"
    return None


def _fb_message_problem(message: dict[str, Any], attachments: dict[str, _Media]) -> str | None:
    if ("text" in message) == ("attachment" in message):
        return "message needs exactly one of text and attachment"
    if "text" in message and not 0 < len(message["text"]) <= 2000:
        return "text must be 1 to 2000 characters"
    quick = message.get("quick_replies", [])
    if len(quick) > 13:
        return "at most 13 quick replies"
    for reply in quick:
        if reply.get("content_type") != "text" or not 0 < len(reply.get("title", "")) <= 20:
            return "quick reply titles are 1 to 20 characters"
        if not 0 < len(reply.get("payload", "")) <= 1000:
            return "quick reply payloads are 1 to 1000 characters"
    attachment = _dict(message.get("attachment"))
    if attachment:
        payload = _dict(attachment.get("payload"))
        if attachment.get("type") == "template":
            buttons = payload.get("buttons", [])
            if payload.get("template_type") != "button" or not 0 < len(payload.get("text", "")) <= 640:
                return "button template text is 1 to 640 characters"
            if not 0 < len(buttons) <= 3 or any(not 0 < len(b.get("title", "")) <= 20 for b in buttons):
                return "a button template has 1 to 3 buttons, titles of 1 to 20 characters"
        elif payload.get("attachment_id") not in attachments and not payload.get("url"):
            return "attachment_id is not an uploaded attachment"
    return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _json(request: web.Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        return None
