"""A local fake of the platforms' HTTP APIs on 127.0.0.1 (http.server in a thread) that records requests."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakePlatform:
    def __init__(self):
        self.requests = []
        self.routes = {}  # (method, path without query) -> callable(request) -> (status, body dict, headers)
        self.accepted_retry_keys = {}
        self.reply_tokens = {}  # token -> expiry (time.monotonic()); issue_reply_token() makes one
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
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
