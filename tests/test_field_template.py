"""One field template (templates/partials/field.html, issue 22.13) renders every console form field: its label,
the widget with what the user typed, its help (the id Django's aria-describedby names), its errors beside it."""

import re
from pathlib import Path

from django import forms
from django.template.loader import render_to_string

ROOT = Path(__file__).resolve().parent.parent
USERS = [
    "accounts/templates/accounts/settings.html",
    "cdp/templates/cdp/attributes.html",
    "cdp/templates/cdp/import_start.html",
    "messaging/templates/messaging/_rule_form.html",
    "messaging/templates/messaging/channels.html",
    "messaging/templates/messaging/channel_detail.html",
    "messaging/templates/messaging/module_form.html",
]


class Sample(forms.Form):
    key = forms.SlugField(label="屬性代碼", help_text="英文字母、數字與底線。")
    active = forms.BooleanField(label="啟用", required=False)


def test_a_field_keeps_the_value_and_shows_its_error_beside_it():
    form = Sample(data={"key": "bad key!"})
    assert not form.is_valid()
    html = render_to_string("partials/field.html", {"field": form["key"]})
    assert '<label class="field-label" for="id_key">屬性代碼</label>' in html
    assert 'value="bad key!"' in html and 'aria-invalid="true"' in html
    assert 'aria-describedby="id_key_helptext id_key_error"' in html and 'id="id_key_helptext"' in html
    error = form.errors["key"][0].replace('"', "&quot;")
    beside = rf'<div class="field">.*<span class="field-error" id="id_key_error">{re.escape(error)}</span>\s*</div>'
    assert re.search(beside, html, re.S)


def test_a_checkbox_gets_the_check_layout():
    html = render_to_string("partials/field.html", {"field": Sample()["active"]})
    assert 'class="field field-check"' in html and 'type="checkbox"' in html


def test_console_forms_render_their_fields_through_it():
    for name in USERS:
        text = (ROOT / name).read_text(encoding="utf-8")
        assert '{% include "partials/field.html"' in text, name
        assert not re.search(r"\{% for (e|error) in field\.errors", text), name  # no hand-written field loop left
