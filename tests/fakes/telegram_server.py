"""A strict fake Telegram Bot API server on 127.0.0.1 for end-to-end bot tests."""

from __future__ import annotations

import asyncio
import copy
import email.parser
import email.policy
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

TOKEN = "123456:TEST-fake-token_abc"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Breakout", "username": "breakout_bot"}
MAX_TEXT = 4096
MAX_CAPTION = 1024
ALLOWED_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
    "span", "tg-spoiler", "tg-emoji", "blockquote",
}  # fmt: skip
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:=\"[^\"<>]*\")?)*)\s*>")
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


class ApiError(Exception):
    """A Bot API error answer."""

    def __init__(self, code: int, description: str, parameters: dict | None = None) -> None:
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


def _parse_error(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: can't parse entities: {what}")


def check_html(text: str) -> str:
    """Validate Telegram HTML like Telegram does; return the visible text."""
    stack: list[str] = []
    visible: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            m = _TAG.match(text, i)
            if not m or m.group(2).lower() not in ALLOWED_TAGS:
                raise _parse_error(f"Unsupported start tag at byte offset {i}")
            name = m.group(2).lower()
            if m.group(1):
                if not stack or stack.pop() != name:
                    raise _parse_error(f"Unexpected end tag at byte offset {i}")
            else:
                stack.append(name)
            i = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise _parse_error(f"Character '&' is reserved at byte offset {i}")
            visible.append(unescape(m.group(0)))
            i = m.end()
        elif ch == ">":
            raise _parse_error(f"Character '>' is reserved at byte offset {i}")
        else:
            visible.append(ch)
            i += 1
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(visible)  # fmt: skip


def check_markup(raw: Any) -> dict | None:
    """Parse and validate an inline keyboard; callback_data must be 1-64 bytes."""
    if raw in (None, ""):
        return None
    markup = json.loads(raw) if isinstance(raw, str) else raw
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= 64:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    at: float = field(default_factory=time.monotonic)
    ok: bool = True
    error: str = ""
    result: Any = None


class FakeTelegram:
    """The Bot API subset the bot uses, with Telegram's error shapes; thread-safe."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict] = []
        self.messages: dict[tuple[int, int], dict] = {}
        self.known_chats: set[int] = set()
        self.commands: list[dict] = []
        self.injected_at: dict[int, float] = {}
        self.inbox: list[tuple[float, str, dict]] = []  # (time, update kind, payload) sent in
        self._failures: dict[str, list[ApiError]] = {}
        self._ids = itertools.count(1)
        self._update_ids = itertools.count(1)
        self._cond = threading.Condition()
        self._closed = False
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # --- lifecycle -----------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What PTB gets as base_url."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    def start(self) -> FakeTelegram:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake long polls and stop serving."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    # --- test helpers ----------------------------------------------------------------
    def _user(self, user_id: int) -> dict:
        return {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}

    def _push_update(self, key: str, payload: dict) -> int:
        with self._cond:
            update_id = next(self._update_ids)
            self.updates.append({"update_id": update_id, key: payload})
            self.inbox.append((time.monotonic(), key, copy.deepcopy(payload)))
            self.injected_at[update_id] = time.monotonic()
            self._cond.notify_all()
        return update_id

    def send_text(self, user_id: int, text: str) -> int:
        """Queue a private message from `user_id`; return the update id."""
        self.known_chats.add(user_id)
        message = {
            "message_id": next(self._ids),
            "from": self._user(user_id),
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
            "date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push_update("message", message)

    def edit_text(self, user_id: int, message_id: int, text: str) -> int:
        """Queue an edited_message update: the user changed an old message of theirs."""
        message = {
            "message_id": message_id,
            "from": self._user(user_id),
            "chat": {"id": user_id, "type": "private", "first_name": f"User{user_id}"},
            "date": int(time.time()) - 60,
            "edit_date": int(time.time()),
            "text": text,
        }
        if text.startswith("/"):
            length = len(text.split()[0])
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
        return self._push_update("edited_message", message)

    def press(self, user_id: int, message: dict, data: str) -> str:
        """Queue a press on (the current state of) a message the bot sent; return the query id."""
        with self._cond:
            key = (message["chat"]["id"], message["message_id"])
            message = copy.deepcopy(self.messages.get(key, message))
        query_id = f"cq{next(self._ids)}"
        payload = {
            "id": query_id,
            "from": self._user(user_id),
            "chat_instance": "ci1",
            "message": message,
            "data": data,
        }
        self._push_update("callback_query", payload)
        return query_id

    def fail_next(
        self, method: str, code: int = 429, retry_after: int = 1, description: str = ""
    ) -> None:
        """Make the next call of `method` fail (429 with retry_after by default)."""
        params = {"retry_after": retry_after} if code == 429 else None
        text = description or f"Too Many Requests: retry after {retry_after}"
        self._failures.setdefault(method, []).append(ApiError(code, text, params))  # fmt: skip

    def calls_of(self, method: str, *, ok: bool | None = True) -> list[Call]:
        """Recorded calls of `method` (successful ones by default)."""
        with self._cond:
            return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def wait_sync(self, predicate: Callable[[Call], bool], start: int, timeout: float) -> Call:
        """Block until a call at index >= start matches `predicate`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for call in self.calls[start:]:
                    if predicate(call):
                        return call
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [(c.method, c.ok) for c in self.calls[start:]]
                    raise TimeoutError(f"no matching call within {timeout}s; saw {seen}")
                self._cond.wait(remaining)

    async def wait_for(
        self,
        method: str,
        *,
        start: int = 0,
        within: float = 10.0,
        ok: bool | None = True,
        where: Callable[[Call], bool] | None = None,
    ) -> Call:
        """Wait (without blocking the loop) for a call of `method` at index >= start."""

        def match(call: Call) -> bool:
            return (
                call.method == method
                and (ok is None or call.ok == ok)
                and (where is None or where(call))
            )

        return await asyncio.to_thread(self.wait_sync, match, start, within)

    def markup_data(self, message: dict) -> list[str]:
        """callback_data of every button of a message."""
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return [b["callback_data"] for row in rows for b in row if "callback_data" in b]

    def mark(self) -> int:
        """Index of the next call, to wait only for calls after this point."""
        with self._cond:
            return len(self.calls)

    # --- API -------------------------------------------------------------------------
    def _bot_message(self, chat_id: int, **content: Any) -> dict:
        if chat_id not in self.known_chats:
            raise ApiError(400, "Bad Request: chat not found")
        message = {
            "message_id": next(self._ids),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": f"User{chat_id}"},
            "date": int(time.time()),
            **{k: v for k, v in content.items() if v is not None},
        }
        self.messages[(chat_id, message["message_id"])] = message
        return message

    def _text(self, params: dict, key: str, limit: int) -> str:
        text = params.get(key, "")
        visible = check_html(text) if params.get("parse_mode") == "HTML" else text
        if key == "text" and not visible.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if len(visible) > limit:
            what = "message is too long" if key == "text" else "message caption is too long"
            raise ApiError(400, f"Bad Request: {what}")
        return text

    def _edit(self, params: dict, text: str | None) -> dict:
        chat_id, message_id = int(params["chat_id"]), int(params["message_id"])
        message = self.messages.get((chat_id, message_id))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        markup = check_markup(params.get("reply_markup"))
        new_text = message.get("text") if text is None else text
        if new_text == message.get("text") and markup == message.get("reply_markup"):
            raise ApiError(400, NOT_MODIFIED)
        if text is not None:
            message["text"] = text
        if markup is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = markup
        return message

    def dispatch(self, method: str, params: dict, files: dict[str, bytes]) -> Any:
        """Answer one API call (the caller holds the condition's lock)."""
        failures = self._failures.get(method)
        if failures:
            raise failures.pop(0)
        if method == "getMe":
            return BOT_USER
        if method == "deleteWebhook":
            if str(params.get("drop_pending_updates", "")).lower() == "true":
                self.updates.clear()
            return True
        if method in ("setMyCommands", "getMyCommands"):
            if method == "setMyCommands":
                self.commands = json.loads(params["commands"])
                return True
            return self.commands
        if method == "getUpdates":
            return self._get_updates(params)
        if method == "sendMessage":
            text = self._text(params, "text", MAX_TEXT)
            markup = check_markup(params.get("reply_markup"))
            return self._bot_message(int(params["chat_id"]), text=text, reply_markup=markup)
        if method == "sendPhoto":
            photo = files.get("photo", b"")
            if not photo.startswith(b"\x89PNG\r\n\x1a\n"):
                raise ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
            caption = self._text(params, "caption", MAX_CAPTION) or None
            markup = check_markup(params.get("reply_markup"))
            size = {"file_id": "ph1", "file_unique_id": "u1", "width": 800, "height": 400}
            return self._bot_message(
                int(params["chat_id"]), photo=[size], caption=caption, reply_markup=markup
            )
        if method == "editMessageText":
            return self._edit(params, self._text(params, "text", MAX_TEXT))
        if method == "editMessageReplyMarkup":
            return self._edit(params, None)
        if method == "answerCallbackQuery":
            if len(params.get("text", "")) > 200:
                raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
            return True
        raise ApiError(404, "Not Found")

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset", 0) or 0)
        deadline = time.monotonic() + float(params.get("timeout", 0) or 0)
        limit = int(params.get("limit", 100) or 100)
        if offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        while not self.updates and not self._closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._cond.wait(remaining)
        return self.updates[:limit]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
            # would add ~40 ms to every answer (Telegram does not have that delay).
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                self._serve()

            def do_GET(self) -> None:
                self._serve()

            def _serve(self) -> None:
                prefix = f"/bot{fake.token}/"
                if not self.path.startswith(prefix):
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                method = self.path[len(prefix) :].split("?")[0]
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                params, files = parse_body(self.headers.get("Content-Type", ""), body)
                call = Call(method, params, files)
                with fake._cond:
                    try:
                        result = fake.dispatch(method, params, files)
                        call.result = copy.deepcopy(result)
                        answer, status = {"ok": True, "result": result}, 200
                    except ApiError as exc:
                        call.ok, call.error = False, exc.description
                        answer = {
                            "ok": False,
                            "error_code": exc.code,
                            "description": exc.description,
                        }
                        if exc.parameters:
                            answer["parameters"] = exc.parameters
                        status = exc.code
                    fake.calls.append(call)
                    fake._cond.notify_all()
                self._reply(status, answer)

            def _reply(self, status: int, answer: dict) -> None:
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a long poll while stopping

        return Handler


def parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Parameters and uploaded files of a JSON, urlencoded or multipart request."""
    if not body:
        return {}, {}
    if content_type.startswith("application/json"):
        return json.loads(body), {}
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        params: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                files[name] = payload
            else:
                params[name] = payload.decode()
        return params, files
    return {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}, {}
