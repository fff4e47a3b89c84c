"""HX-* response headers are set through django_htmx.http (HttpResponseClientRedirect, retarget, reswap,
trigger_client_event), never by hand (issue 22.13): the helpers spell the header and encode HX-Trigger's JSON."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HAND_SET = re.compile(
    r"""\[\s*["']HX-[\w-]+["']\s*\]\s*=(?!=)|\.setdefault\(\s*["']HX-|headers\s*=\s*\{[^}]*["']HX-""", re.I
)


def _app_modules():
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0].startswith(".") or parts[0] in ("node_modules", "tests") or "tests" in parts:
            continue
        yield path


def test_no_view_sets_an_hx_header_by_hand():
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _app_modules()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HAND_SET.search(line)
    ]
    assert found == []


def test_the_pattern_catches_a_hand_set_header():
    assert HAND_SET.search('response["HX-Trigger"] = "drawer-close"')
    assert HAND_SET.search("response['hx-redirect'] = url")
    assert not HAND_SET.search('assert response["HX-Retarget"] == "#drawer"')
