"""Stored messages shown in the reader's language (issue 20.14).

Some messages are stored as text when they happen (an import's per-row errors, a job's failure) and read later,
maybe by someone who reads English. They are stored in the source language (settings.LANGUAGE_CODE, the msgids'
language), and translate_stored() turns such a text back into its msgid and parameters and translates it now:
"不是有效的 Email：x@" → "Not a valid email: x@". Text that is no known message is shown as it is."""

import re
from functools import lru_cache

from django.conf import settings
from django.utils.translation import get_language, gettext
from django.utils.translation.trans_real import translation

PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[sdr]|%%")


def translate_stored(text):
    """`text` (a message stored in the source language) in the active language."""
    if not isinstance(text, str) or not text:
        return text
    language = get_language() or settings.LANGUAGE_CODE
    if language == settings.LANGUAGE_CODE:
        return text
    translated = gettext(text)
    if translated != text:
        return translated
    by_first = _patterns(language)
    for msgid, pattern, names in by_first.get(text[:1], []) + by_first.get("", []):
        match = pattern.fullmatch(text)
        if match is None:
            continue
        values = match.groups()
        try:
            if names and all(names):
                return gettext(msgid) % dict(zip(names, values, strict=True))
            return gettext(msgid) % tuple(values)
        except (TypeError, ValueError, KeyError):
            return text
    return text


@lru_cache(maxsize=8)
def _patterns(language):
    """The language's catalog msgids with parameters, as full-match patterns bucketed by their first character."""
    by_first = {}
    for msgid in translation(language)._catalog.keys():  # gettext's catalog: every app's msgids
        if not isinstance(msgid, str) or "\x04" in msgid or "%" not in msgid:
            continue
        names, parts, position = [], [], 0
        for found in PLACEHOLDER.finditer(msgid):
            parts.append(re.escape(msgid[position : found.start()]))
            if found.group(0) == "%%":
                parts.append("%")
            else:
                name = found.group(1)
                if name and name in names:
                    parts.append(f"(?P={name})")
                else:
                    names.append(name)
                    parts.append(f"(?P<{name}>.*?)" if name else "(.*?)")
            position = found.end()
        if not names:
            continue
        parts.append(re.escape(msgid[position:]))
        first = msgid[:1] if not msgid.startswith("%") else ""
        by_first.setdefault(first, []).append((msgid, re.compile("".join(parts), re.S), names))
    return by_first
