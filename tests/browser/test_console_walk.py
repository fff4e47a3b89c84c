"""Walk every console page in both languages (issue 20, "Done when"), in one browser page, and check:

- no untranslated zh-Hant in English pages outside user data (a text node that is exactly a catalog msgid, or
  English text with full-width punctuation);
- no raw ids (journey node codes, "#—", stored snake_case codes);
- no layout overflow at 1440×900 and 1280×800 (an element wider than the card or page that holds it);
- every page's htmx answers 4xx with something shown (the one response-handling config and console.js are there).

Screenshots go to screenshots/walk/<lang>-<page>.png (look at them).
"""

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.models import Team
from tests.browser.conftest import SCREENSHOTS
from tests.factories import MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
VIEWPORTS = [(1440, 900), (1280, 800)]
CJK = re.compile(r"[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]")
FULL_WIDTH_PUNCTUATION = re.compile(r"[（）：，。、；！？＋]")
RAW_IDS = [
    re.compile(r"\bn[0-9a-f]{8}\b"),  # journey node codes
    re.compile(r"#—"),
    re.compile(
        r"\b(?:module_id|template_id|content_type|scheduled_at|custom_conditions|budget_exhausted|"
        r"not_found|invalid_[a-z_]+|unsupported_on_channel|whatsapp_template|text_buttons|image_map)\b"
    ),
]


def catalog_msgids():
    """zh-Hant source strings whose English differs: seeing one verbatim on an English page means it was missed."""
    msgids = set()
    for po in ROOT.glob("*/locale/en/LC_MESSAGES/django.po"):
        text = po.read_text(encoding="utf-8")
        for block in text.split("\n\n"):
            match = re.search(r'^msgid "(.+)"$', block, re.M)
            if match and CJK.search(match.group(1)) and "%" not in match.group(1):
                msgids.add(match.group(1).replace('\\"', '"'))
    return msgids


TEXT_NODES = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    const skip = 'script, style, [hidden], .visually-hidden, [data-user-data], option, textarea, code';
    if (!el || el.closest(skip)) continue;
    if (!el.offsetParent && getComputedStyle(el).position !== 'fixed') continue;
    const text = node.textContent.trim();
    if (text) out.push(text);
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [aria-label]')) {
    for (const name of ['placeholder', 'title', 'aria-label']) {
      const v = el.getAttribute(name);
      if (v) out.push(v.trim());
    }
  }
  return out;
}"""

OVERFLOW = """() => {
  const found = [];
  const boxes = '.card, .kpi, .modal, .drawer, .content, .topbar, .sidebar, td, th';
  for (const el of document.querySelectorAll('.shell *')) {
    if (!el.offsetParent || el.closest('[hidden]')) continue;
    const box = el.parentElement && el.parentElement.closest(boxes);
    if (!box) continue;
    let scroller = el.parentElement, clipped = false;
    while (scroller && scroller !== box) {
      const s = getComputedStyle(scroller);
      if (['auto', 'scroll', 'hidden'].includes(s.overflowX)) { clipped = true; break; }
      scroller = scroller.parentElement;
    }
    if (clipped || ['auto', 'scroll', 'hidden'].includes(getComputedStyle(box).overflowX)) continue;
    const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
    if (r.width && r.right > b.right + 2) {
      const past = Math.round(r.right - b.right);
      found.push(`${el.tagName.toLowerCase()}.${el.className} (${past}px past ${box.className || box.tagName})`);
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1) found.push('the page scrolls sideways');
  return found.slice(0, 5);
}"""

HTMX_ERRORS_SHOWN = """() => {
  const rules = (window.htmx && htmx.config.responseHandling) || [];
  const fourxx = rules.find(r => String(r.code) === '4..');
  return Boolean(fourxx && fourxx.swap && window.consoleToast && document.getElementById('toasts'));
}"""


def pages_of(team):
    from audiences.models import AudiencePack, Broadcast
    from cdp.models import Customer
    from commerce.models import Order
    from coupons.models import Campaign as CouponCampaign
    from journeys.models import Journey
    from omnilink.models import Campaign as OmniLinkCampaign

    pages = {
        "customers": "/customers/",
        "analytics": "/analytics/",
        "audiences": "/audiences/",
        "audience-new": "/audiences/new/",
        "broadcasts": "/audiences/broadcasts/",
        "broadcast-new": "/audiences/broadcasts/new/",
        "journeys": "/journeys/",
        "home": "/",
        "omnilink": "/omnilink/",
        "omo": "/customers/omo/",
        "coupons": "/coupons/",
        "coupon-new": "/coupons/new/",
        "orders": "/orders/",
        "order-settings": "/orders/settings/",
        "products": "/orders/products/",
        "comment-rules": "/messaging/comment-rules/",
        "billing": "/billing/",
        "settings": "/settings/",
        "tags": "/customers/tags/",
        "attributes": "/customers/attributes/",
        "import": "/customers/import/",
        "messaging": "/messaging/",
        "conversations": "/messaging/conversations/",
        "keywords": "/messaging/keywords/",
        "modules": "/messaging/modules/",
        "not-found": "/customers/999999999/",
    }
    customer = Customer.objects.for_team(team).order_by("pk").first()
    if customer:
        pages["customer"] = f"/customers/{customer.pk}/"
    pack = AudiencePack.objects.for_team(team).order_by("pk").first()
    if pack:
        pages["audience"] = f"/audiences/{pack.pk}/"
    broadcast = Broadcast.objects.for_team(team).filter(status="sent").first()
    if broadcast:
        pages["broadcast"] = f"/audiences/broadcasts/{broadcast.pk}/"
    for name, model, path in (
        ("omnilink-campaign", OmniLinkCampaign, "/omnilink/{}/statistics/"),
        ("coupon", CouponCampaign, "/coupons/{}/"),
        ("order", Order, "/orders/{}/"),
    ):
        row = model.objects.for_team(team).order_by("pk").first()
        if row:
            pages[name] = path.format(row.pk)
    journey = Journey.objects.for_team(team).order_by("pk").first()
    if journey:
        pages["journey"] = f"/journeys/{journey.pk}/"
        pages["journey-statistics"] = f"/journeys/{journey.pk}/statistics/"
    return pages


def test_every_page_in_both_languages(live_server, browser):
    call_command("seed_demo", team="walk", contacts=120, seed=2, stdout=io.StringIO())
    team = Team.objects.get(slug="walk")
    user = MembershipFactory(team=team, role="owner").user
    client = Client()
    client.force_login(user)
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
    page = context.new_page()
    shots = SCREENSHOTS / "walk"
    shots.mkdir(parents=True, exist_ok=True)
    msgids = catalog_msgids()
    problems = []
    for language in ("zh-hant", "en"):
        context.add_cookies([{"name": "django_language", "value": language, "url": live_server.url}])
        for name, path in pages_of(team).items():
            for width, height in VIEWPORTS:
                page.set_viewport_size({"width": width, "height": height})
                if page.url != live_server.url + path or width == 1440:
                    response = page.goto(live_server.url + path)
                    expected = 404 if name == "not-found" else 200
                    if response.status != expected:
                        problems.append(f"{language} {name}: HTTP {response.status}, not {expected}")
                # htmx "load" requests (quota bar, counts) settle before the checks
                page.wait_for_timeout(150)
                page.wait_for_function("!document.body.classList.contains('htmx-busy')")
                where = f"{language} {name} {width}x{height}"
                if width == 1440:
                    page.screenshot(path=str(shots / f"{language}-{name}.png"), full_page=True)
                    texts = page.evaluate(TEXT_NODES)
                    for pattern in RAW_IDS:
                        hits = sorted({m.group(0) for t in texts for m in [pattern.search(t)] if m})
                        if hits:
                            problems.append(f"{where}: raw ids {hits[:5]}")
                    if language == "en":
                        missed = sorted({t for t in texts if t in msgids})
                        if missed:
                            problems.append(f"{where}: untranslated {missed[:8]}")
                        punct = sorted(
                            {
                                t
                                for t in texts
                                if FULL_WIDTH_PUNCTUATION.search(t) and not re.search(r"[\u3400-\u9fff]", t)
                            }
                        )
                        if punct:
                            problems.append(f"{where}: full-width punctuation in English {punct[:5]}")
                    if not page.evaluate(HTMX_ERRORS_SHOWN):
                        problems.append(f"{where}: htmx 4xx answers would not be shown")
                overflow = page.evaluate(OVERFLOW)
                if overflow:
                    problems.append(f"{where}: overflow {overflow}")
    context.close()
    assert not problems, "\n".join(problems)
