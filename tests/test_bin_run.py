"""bin/run stops before installing anything when its port is taken, naming PORT (issue 20.17); the public base URL
follows PORT when PUBLIC_BASE_URL is unset."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(env):
    environment = {k: v for k, v in os.environ.items() if k not in ("PORT", "HOST")}
    environment.update(env)
    return subprocess.run(
        ["bash", str(ROOT / "bin" / "run")], env=environment, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_a_taken_port_stops_before_the_install_and_names_port():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # PYTHON pointing nowhere: had the script gone on to create or install the virtualenv, it would say so.
        result = _run({"PORT": str(port), "PYTHON": "/nonexistent/python"})
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and "PORT=" in result.stderr
    assert "==>" not in result.stdout  # nothing installed, migrated or started


def test_a_port_that_is_not_a_number_is_refused():
    result = _run({"PORT": "80a"})
    assert result.returncode == 2 and "PORT" in result.stderr and "==>" not in result.stdout


def _public_base_url(env):
    environment = {k: v for k, v in os.environ.items() if k not in ("PORT", "PUBLIC_BASE_URL")}
    environment.update(env, DJANGO_SETTINGS_MODULE="config.settings")
    code = "from django.conf import settings; print(settings.PUBLIC_BASE_URL)"
    return subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()


def test_the_public_base_url_follows_port_unless_set():
    assert _public_base_url({}) == "http://127.0.0.1:8000"
    assert _public_base_url({"PORT": "9123"}) == "http://127.0.0.1:9123"
    assert (
        _public_base_url({"PORT": "9123", "PUBLIC_BASE_URL": "https://cdp.example.com/"}) == "https://cdp.example.com"
    )
