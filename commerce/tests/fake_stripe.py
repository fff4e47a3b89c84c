"""A local fake of Stripe's Checkout Sessions API on 127.0.0.1, in Stripe's formats: form-encoded requests with
a Bearer secret key and Idempotency-Key, JSON answers, and signed webhook events (Stripe-Signature)."""

import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

from commerce.services.payments.stripe import sign

SECRET_KEY = "sk_test_51Fake"
WEBHOOK_SECRET = "whsec_fake_secret"


class FakeStripe:
    def __init__(self):
        self.requests = []
        self.sessions = {}  # id -> session
        self.idempotency = {}  # key -> session id
        self.counter = itertools.count(1)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = dict(parse_qsl(raw, keep_blank_values=True))
                with fake.lock:
                    status, body = fake.handle(self.path, {k.lower(): v for k, v in self.headers.items()}, form)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def handle(self, path, headers, form):
        self.requests.append({"path": path, "headers": headers, "form": form})
        if path != "/v1/checkout/sessions":
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})"}}
        if headers.get("authorization") != f"Bearer {SECRET_KEY}":
            return 401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}}
        key = headers.get("idempotency-key")
        if key and key in self.idempotency:
            return 200, self.sessions[self.idempotency[key]]
        for required in ("mode", "success_url", "line_items[0][price_data][currency]"):
            if not form.get(required):
                return 400, {
                    "error": {"type": "invalid_request_error", "message": f"Missing required param: {required}"}
                }
        total, i = 0, 0
        while f"line_items[{i}][quantity]" in form:
            amount = form[f"line_items[{i}][price_data][unit_amount]"]
            if not amount.isdigit() or not form.get(f"line_items[{i}][price_data][product_data][name]"):
                return 400, {"error": {"type": "invalid_request_error", "message": f"Invalid line_items[{i}]"}}
            total += int(amount) * int(form[f"line_items[{i}][quantity]"])
            i += 1
        session_id = f"cs_test_{next(self.counter):06d}"
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            "amount_total": total,
            "currency": form["line_items[0][price_data][currency]"],
            "client_reference_id": form.get("client_reference_id"),
            "customer_email": form.get("customer_email"),
            "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            "mode": "payment",
            "payment_status": "unpaid",
            "status": "open",
        }
        self.sessions[session_id] = session
        if key:
            self.idempotency[key] = session_id
        return 200, session

    def sessions_created(self):
        return [r for r in self.requests if r["path"] == "/v1/checkout/sessions"]

    def completed_event(self, session_id, event_id=None, kind="checkout.session.completed"):
        """The webhook body Stripe sends when the customer paid (an Event wrapping the session)."""
        session = {**self.sessions[session_id], "payment_status": "paid", "status": "complete"}
        event = {
            "id": event_id or f"evt_{session_id[8:]}_{kind.rsplit('.', 1)[-1]}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "type": kind,
            "livemode": False,
            "pending_webhooks": 1,
            "data": {"object": session},
        }
        return json.dumps(event).encode()


def post_webhook(client, team, body, secret=WEBHOOK_SECRET, timestamp=None):
    return client.post(
        f"/webhooks/payments/stripe/{team.pk}/",
        data=body,
        content_type="application/json",
        headers={"Stripe-Signature": sign(secret, body, timestamp)},
    )
