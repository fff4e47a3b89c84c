"""Local fakes of Twilio's Messages API and Mitake's SmSend on 127.0.0.1: form bodies in, their real answers out."""

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class FakeSmsProvider:
    def __init__(self):
        self.requests = []
        self.answer = None  # callable(request) -> (status, content type, body bytes)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path, _, query = self.path.partition("?")
                request = {
                    "path": path,
                    "query": parse_qs(query),
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "form": {k: v[0] for k, v in parse_qs(raw.decode()).items()},
                }
                fake.requests.append(request)
                status, content_type, body = fake.answer(request)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    # --- Twilio ------------------------------------------------------------------------------------------
    def twilio_accepts(self, segments="1", sid="SM0123456789abcdef0123456789abcdef"):
        def answer(request):
            body = {
                "sid": sid,
                "status": "queued",
                "num_segments": segments,
                "to": request["form"].get("To"),
                "from": request["form"].get("From"),
                "body": request["form"].get("Body"),
                "error_code": None,
                "error_message": None,
            }
            return 201, "application/json", json.dumps(body).encode()

        self.answer = answer

    def twilio_error(self, status, code, message):
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}"}
        self.answer = lambda request: (status, "application/json", json.dumps({**body, "status": status}).encode())

    @staticmethod
    def basic_auth(request):
        value = request["headers"].get("authorization", "")
        return base64.b64decode(value.removeprefix("Basic ")).decode() if value.startswith("Basic ") else ""

    # --- Mitake ------------------------------------------------------------------------------------------
    def mitake_answers(self, **fields):
        lines = ["[1]"] + [f"{key}={value}" for key, value in fields.items()]
        self.answer = lambda request: (200, "text/plain; charset=utf-8", ("\r\n".join(lines) + "\r\n").encode())
