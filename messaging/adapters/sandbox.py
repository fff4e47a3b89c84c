"""The sandbox provider: no credentials, no network. Every send is accepted with a deterministic id.

What happens after a send (delivered, read/opened, clicked, replied) is simulated by
messaging.services.sandbox.simulate, deterministically from the message's idempotency key, so a fresh
install shows realistic statistics.
"""

from .base import SendResult, Transport


class SandboxTransport(Transport):
    kind = "sandbox"
    supports_multicast = False

    def send(self, *, recipient, payload, retry_key):
        return SendResult.success(f"sandbox-{retry_key}")

    def test_connection(self):
        return True, "sandbox"
