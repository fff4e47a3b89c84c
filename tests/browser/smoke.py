"""Browser smoke test of the real product, run by .ci/run with the venv's python.

Starts Social CDP with bin/run (migrate, demo team with 200 contacts, worker + web server) on a fresh SQLite
file and a free port, logs in through the real login page in Debian's Chromium, checks the shell in zh-Hant
and, after the language switch, in English, checks /healthz sees the worker heartbeat, saves screenshots and
stops the servers. Exit status 0 when everything holds.

    .venv/bin/python tests/browser/smoke.py [--screenshots DIR]
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ZH_MENU = ["顧客", "受眾包", "顧客旅程"]
EN_MENU = ["Customers", "Audiences", "Journeys"]
START_TIMEOUT = 240  # seconds for migrate + demo data + server start
HEARTBEAT_TIMEOUT = 30


def log(message):
    print(f"[smoke {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url, timeout=5):
    """(status, body) of a GET; (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (OSError, urllib.error.URLError) as exc:
        return None, str(exc)


class Product:
    """bin/run in its own process group, its output in a log file."""

    def __init__(self, workdir, port):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "bin-run.log"
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "MEDIA_ROOT": str(workdir / "media"),
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DEMO_CONTACTS": "200",
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("REDIS_URL", None)
        self.log_file = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            ["bash", str(ROOT / "bin" / "run")],
            cwd=ROOT,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def wait_until_up(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bin/run exited early with status {self.process.returncode}")
            status, _ = fetch(f"{self.url}/accounts/login/", timeout=2)
            if status == 200:
                return
            time.sleep(0.5)
        raise AssertionError(f"the web server did not answer within {START_TIMEOUT} s")

    def login(self):
        text = self.log_path.read_text()
        user = re.search(r"^Demo login: *(\S+)", text, re.M)
        # "Password:   <pw>", or "Password:   (unchanged since it was first created: <pw>)" on a re-run.
        password = re.search(r"^Password: *(?:\(.*: *)?([^\s)]+)", text, re.M)
        assert user and password, "setup_demo did not print the demo login and password"
        return user.group(1), password.group(1)

    def stop(self):
        """SIGTERM to bin/run (its trap stops the worker and the server), then clean up the group."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log("bin/run did not stop within 20 s; killing it")
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of our own process group
        except ProcessLookupError:
            pass
        self.process.wait()
        self.log_file.close()


def menu_text(page):
    return " ".join(page.locator("nav.menu a").all_inner_texts())


def check_browser(product, shots):
    from playwright.sync_api import sync_playwright

    username, password = product.login()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            # A Taiwanese browser: Accept-Language zh-TW, which the console serves in zh-Hant.
            page = browser.new_page(viewport={"width": 1280, "height": 800}, locale="zh-TW")
            page.set_default_timeout(20_000)
            page.goto(f"{product.url}/")
            page.wait_for_url(re.compile(r"/accounts/login/"))
            title = page.locator("h1.auth-title").inner_text()
            assert title == "登入您的帳號", f"login page title is {title!r}"
            page.screenshot(path=str(shots / "1-login-zh-hant.png"))

            page.fill("input[name=username]", username)
            page.fill("input[name=password]", password)
            with page.expect_navigation():
                page.click("form.stack button[type=submit]")
            assert "/accounts/login/" not in page.url, "login failed"
            text = menu_text(page)
            missing = [label for label in ZH_MENU if label not in text]
            assert not missing, f"zh-Hant menu lacks {missing}: {text!r}"
            page.screenshot(path=str(shots / "2-shell-zh-hant.png"))
            log(f"logged in as {username}; zh-Hant menu ok")

            with page.expect_navigation():
                page.locator("header form.language-switch button[data-lang=en]").click()
            text = menu_text(page)
            missing = [label for label in EN_MENU if label not in text]
            assert not missing, f"English menu lacks {missing}: {text!r}"
            page.screenshot(path=str(shots / "3-shell-en.png"))
            log("English menu ok")

            page.goto(f"{product.url}/settings/")
            page.screenshot(path=str(shots / "4-settings-en.png"), full_page=True)
        finally:
            browser.close()


def check_health(product):
    deadline = time.monotonic() + HEARTBEAT_TIMEOUT
    body = ""
    while time.monotonic() < deadline:
        status, body = fetch(f"{product.url}/healthz")
        if status == 200 and json.loads(body).get("worker") == "ok":
            log(f"/healthz ok: {body}")
            return
        time.sleep(1)
    raise AssertionError(f"/healthz did not report a worker heartbeat within {HEARTBEAT_TIMEOUT} s: {body}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", type=Path, default=None, help="where to save screenshots")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"smoke: {CHROMIUM} is missing (apt-get install chromium)", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="scdp-smoke-"))
    shots = args.screenshots or workdir / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log(f"starting bin/run on port {port} (SQLite in {workdir})")
    started = time.monotonic()
    product = Product(workdir, port)
    ok = False
    try:
        product.wait_until_up()
        log(f"web server up after {time.monotonic() - started:.1f} s")
        check_browser(product, shots)
        check_health(product)
        ok = True
    except Exception as exc:  # noqa: BLE001 - report any failure with the server log
        log(f"FAILED: {exc.__class__.__name__}: {exc}")
    finally:
        product.stop()
        log("servers stopped")
    if not ok:
        print("----- bin/run output (last 80 lines) -----")
        print("\n".join(product.log_path.read_text().splitlines()[-80:]))
    if args.screenshots:  # the screenshots live elsewhere: drop the database, media and server log
        shutil.rmtree(workdir, ignore_errors=True)
    log(f"screenshots: {shots}")
    log("smoke test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
