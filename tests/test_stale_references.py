"""Comments and docstrings cite only modules, names, files and settings that exist (issue 22.16): a rename that
leaves a comment behind fails here, not in a reader's head."""

import importlib
import io
import re
import tokenize
from importlib.util import find_spec
from pathlib import Path

from django.apps import apps
from django.conf import settings

from accounts.permissions import PERMISSIONS

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "cdp", "messaging", "audiences", "journeys", "analytics", "billing", "config", "core", "tests")
NAMES = "|".join(APPS)
DOTTED = re.compile(rf"(?<![\w./\"'-])((?:{NAMES})(?:\.[A-Za-z_]\w*)+)")
FILE = re.compile(rf"(?<![\w./<-])((?:{NAMES})/[\w/]+\.(?:py|html|md))\b")
SETTING = re.compile(r"\bsettings\.([A-Z][A-Z0-9_]+)\b")
# Cited on purpose though they do not exist: (file, reference): why.
EXAMPLES = {
    ("cdp/management/commands/seed_demo.py", "messaging/demo.py"): "the docstring's example of a seed hook",
}


def _python_files():
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] not in (".venv", "node_modules") and "migrations" not in parts and not parts[0].startswith("."):
            yield path


def _prose(path):
    """(line, text) of each comment and each docstring-like (triple-quoted) string of a module."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    for token in tokens:
        if token.type == tokenize.COMMENT or (
            token.type == tokenize.STRING and token.string.lstrip("rbuRBU").startswith(('"""', "'''"))
        ):
            yield token.start[0], token.string


def _exists(dotted):
    """A module, a module's attribute, a model label (app.Model) or a permission name (app.verb)."""
    if dotted in PERMISSIONS:
        return True
    parts = dotted.split(".")
    if len(parts) == 2:
        try:
            apps.get_model(dotted)
            return True
        except (LookupError, ValueError):
            pass
    for length in range(len(parts), 0, -1):
        module = ".".join(parts[:length])
        try:
            found = find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            obj = importlib.import_module(module) if length < len(parts) else None
            return all(hasattr(obj, name) and (obj := getattr(obj, name)) is not None for name in parts[length:])
    return False


def test_comments_cite_what_exists():
    stale = []
    for path in _python_files():
        relative = str(path.relative_to(ROOT))
        for line, text in _prose(path):
            for match in DOTTED.finditer(text):
                dotted = match.group(1)
                if not _exists(dotted.removesuffix(".py")):
                    stale.append(f"{relative}:{line} {dotted}")
            for match in FILE.finditer(text):
                if not (ROOT / match.group(1)).exists() and (relative, match.group(1)) not in EXAMPLES:
                    stale.append(f"{relative}:{line} {match.group(1)}")
            for match in SETTING.finditer(text):
                if not hasattr(settings, match.group(1)):
                    stale.append(f"{relative}:{line} settings.{match.group(1)}")
    assert stale == [], "\n".join(stale)
