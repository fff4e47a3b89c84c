"""A local fake of the platforms' HTTP APIs on 127.0.0.1 (http.server in a thread) that records requests."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakePlatform:
    """`keep_alive`: answer HTTP/1.1 and keep connections open, as the platforms do; `connections` counts the TCP
    connections accepted."""

    def __init__(self, keep_alive=False):
        self.requests = []
        self.connections = 0
        self.routes = {}  # (method, path without query) -> callable(request) -> (status, body dict, headers)
        self.accepted_retry_keys = {}
        self.reply_tokens = {}  # token -> expiry (time.monotonic()); issue_reply_token() makes one
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self):
                with fake.lock:
                    fake.connections += 1
                super().setup()

            def log_message(self, *args):
                pass

            def _handle(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                path, _, query = self.path.partition("?")
                request = {
                    "method": method,
                    "path": path,
                    "query": query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "json": json.loads(raw) if raw else None,
                }
                handler = fake.routes.get((method, path))
                with fake.lock:  # one request at a time, like one platform state (retry keys, reply tokens)
                    fake.requests.append(request)
                    status, body, headers = handler(request) if handler else (404, {"message": "Not found"}, {})
                    request["status"] = status
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def route(self, method, path, handler):
        self.routes[(method, path)] = handler

    def issue_reply_token(self, token, lifetime=60.0):
        self.reply_tokens[token] = time.monotonic() + lifetime
        return token

    def line_reply(self, request):
        """LINE's reply API: a reply token works once, within its lifetime; otherwise 400 Invalid reply token."""
        token = (request["json"] or {}).get("replyToken")
        expiry = self.reply_tokens.pop(token, None)
        if expiry is None or time.monotonic() > expiry:
            return 400, {"message": "Invalid reply token"}, {}
        return 200, {"sentMessages": [{"id": f"reply{len(self.requests)}", "quoteToken": "q"}]}, {}

    def delivered(self, path="/v2/bot/message/push"):
        """Requests the platform accepted as new messages (200), i.e. what the customers received."""
        return [r for r in self.requests if r["path"] == path and r.get("status") == 200]

    def line_push(self, request):
        """LINE's retry-key semantics: a key already accepted answers 409 with x-line-accepted-request-id."""
        key = request["headers"].get("x-line-retry-key")
        if key in self.accepted_retry_keys:
            return (
                409,
                {"message": "The retry key is already accepted"},
                {"x-line-accepted-request-id": self.accepted_retry_keys[key]},
            )
        request_id = f"req-{len(self.accepted_retry_keys) + 1}"
        if key:
            self.accepted_retry_keys[key] = request_id
        return (
            200,
            {"sentMessages": [{"id": f"4610{len(self.requests)}", "quoteToken": "q"}]},
            {"x-line-request-id": request_id},
        )

    # ------------------------------------------------------------------------------ WhatsApp Cloud API
    def whatsapp_messages(self, request):
        """POST /{phone-number-id}/messages, checked against the Cloud API's rules for free-form messages
        (text, image, interactive button / list / cta_url / carousel, template). A body WhatsApp would refuse
        answers 400 (#100) Invalid parameter, with the reason in error_data.details, as the platform does."""
        problem = whatsapp_problem(request["json"] or {})
        if problem:
            error = {"code": 100, "message": "(#100) Invalid parameter", "error_data": {"details": problem}}
            return 400, {"error": error}, {}
        return 200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.FAKE{len(self.requests)}"}]}, {}


def _url(value):
    return isinstance(value, str) and value.startswith(("https://", "http://"))


def _title(value, limit):
    return isinstance(value, str) and 1 <= len(value) <= limit


def _image_header(header):
    return (header or {}).get("type") == "image" and _url(((header or {}).get("image") or {}).get("link"))


def whatsapp_problem(body):
    """Why WhatsApp would refuse this message body, or "" when it is valid."""
    if body.get("messaging_product") != "whatsapp" or not (body.get("to") or body.get("recipient")):
        return "messaging_product / to"
    kind = body.get("type")
    if kind == "text":
        return "" if _title((body.get("text") or {}).get("body"), 4096) else "text.body"
    if kind == "template":
        return "" if (body.get("template") or {}).get("name") else "template.name"
    if kind == "image":
        image = body.get("image") or {}
        if not _url(image.get("link")) or len(image.get("caption", "")) > 1024:
            return "image.link / caption"
        return ""
    if kind != "interactive":
        return f"unsupported type {kind!r}"
    interactive = body.get("interactive") or {}
    itype, action, header = interactive.get("type"), interactive.get("action") or {}, interactive.get("header")
    if not _title((interactive.get("body") or {}).get("text"), 1024):
        return "interactive.body.text (1-1024)"
    if itype == "button":
        buttons = action.get("buttons") or []
        ids = [(b.get("reply") or {}).get("id") for b in buttons]
        if not 1 <= len(buttons) <= 3 or len(set(ids)) != len(ids) or not all(ids):
            return "reply buttons: 1-3 with unique ids"
        if not all(b.get("type") == "reply" and _title(b["reply"].get("title"), 20) for b in buttons):
            return "reply button title (1-20)"
        return "" if header is None or _image_header(header) or header.get("type") == "text" else "header"
    if itype == "list":
        rows = [row for section in action.get("sections") or [] for row in section.get("rows") or []]
        ids = [row.get("id") for row in rows]
        if not _title(action.get("button"), 20) or not 1 <= len(rows) <= 10 or len(set(ids)) != len(ids):
            return "list: button (1-20), 1-10 rows with unique ids"
        if not all(_title(row.get("title"), 24) for row in rows):
            return "list row title (1-24)"
        return "" if header is None or header.get("type") == "text" else "list header must be text"
    if itype == "cta_url":
        params = action.get("parameters") or {}
        if action.get("name") != "cta_url" or not _title(params.get("display_text"), 20) or not _url(params.get("url")):
            return "cta_url: name, display_text (1-20), url"
        return "" if header is None or _image_header(header) or header.get("type") == "text" else "header"
    if itype == "carousel":
        cards = action.get("cards") or []
        if header is not None or not 2 <= len(cards) <= 10:
            return "carousel: no header, 2-10 cards"
        shapes = set()
        for i, card in enumerate(cards):
            if card.get("card_index") != i or not _image_header(card.get("header")):
                return f"card {i}: card_index / image header"
            if len((card.get("body") or {}).get("text", "")) > 160:
                return f"card {i}: body over 160"
            card_action = card.get("action") or {}
            if card.get("type") == "cta_url":
                params = card_action.get("parameters") or {}
                if not (_title(params.get("display_text"), 20) and _url(params.get("url"))):
                    return f"card {i}: cta_url"
                shapes.add(("cta_url", 1))
            elif card.get("type") == "button":
                buttons = card_action.get("buttons") or []
                if not 1 <= len(buttons) <= 2 or not all(
                    b.get("type") == "quick_reply" and _title((b.get("quick_reply") or {}).get("title"), 20)
                    for b in buttons
                ):
                    return f"card {i}: 1-2 quick replies"
                shapes.add(("button", len(buttons)))
            else:
                return f"card {i}: type"
        return "" if len(shapes) == 1 else "carousel cards must have the same buttons"
    return f"unsupported interactive type {itype!r}"
