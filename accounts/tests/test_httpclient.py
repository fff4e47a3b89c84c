"""The process's one pooled HTTP client (issue 22 item 13): kept-alive connections per host, bounded bodies,
thread-safe use, timeouts, and a new pool in a forked worker."""

import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core import httpclient


class Server:
    """HTTP/1.1 on 127.0.0.1 with keep-alive; GET /big answers a body larger than the client reads, /slow sleeps."""

    def __init__(self):
        self.connections, self.requests = 0, 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                with server.lock:
                    server.connections += 1
                super().setup()

            def do_GET(self):
                with server.lock:
                    server.requests += 1
                if self.path == "/slow":
                    time.sleep(1.5)
                body = b"x" * (httpclient.MAX_BODY_BYTES + 10) if self.path == "/big" else b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client cut the body or timed out, as tested
                    self.close_connection = True

            def log_message(self, *args):
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with Server() as running:
        yield running


def test_requests_to_one_host_share_a_kept_alive_connection(server):
    for _ in range(3):
        response = httpclient.request("GET", f"{server.url}/", timeout=5)
        assert response.status == 200 and response.json() == {"ok": True}
    assert server.requests == 3 and server.connections == 1


def test_a_body_over_the_limit_is_cut_and_its_connection_not_reused(server):
    big = httpclient.request("GET", f"{server.url}/big", timeout=5)
    assert big.status == 200 and len(big.body) == httpclient.MAX_BODY_BYTES
    after = httpclient.request("GET", f"{server.url}/", timeout=5)
    assert after.json() == {"ok": True}  # not the unread rest of the big body
    assert server.connections == 2


def test_concurrent_requests_from_threads_all_succeed_within_the_pool_size(server, settings):
    results, errors = [], []

    def worker():
        try:
            for _ in range(5):
                results.append(httpclient.request("GET", f"{server.url}/", timeout=5).status)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and results == [200] * 40
    assert server.connections <= 8 and server.requests == 40


def test_a_timeout_is_a_network_error(server):
    with pytest.raises(httpclient.NetworkError, match="timed out"):
        httpclient.request("GET", f"{server.url}/slow", timeout=0.3)


def test_a_refused_connection_is_a_network_error():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    with pytest.raises(httpclient.NetworkError):
        httpclient.request("GET", f"http://127.0.0.1:{port}/", timeout=2)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_worker_gets_its_own_pool():
    parent = httpclient.pool_manager()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        fresh = httpclient.pool_manager() is not parent and httpclient.pool_manager() is httpclient.pool_manager()
        os.write(write_end, b"1" if fresh else b"0")
        os._exit(0)
    os.close(write_end)
    answer = os.read(read_end, 1)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert answer == b"1"
    assert httpclient.pool_manager() is parent  # the parent keeps its pool
