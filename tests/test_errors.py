"""The one error vocabulary (issue 22.4): core.errors.ServiceError, its subclasses and the codes they carry."""

import ast
import pathlib

import pytest
from django.core.exceptions import ValidationError

from accounts.services import RoleError
from audiences.conditions import ConditionError
from audiences.services import AudienceError
from cdp.imports import ImportFileError
from cdp.services.identity import UnmergeError
from core.errors import CODES, ServiceError
from journeys.services import JourneyError
from messaging.services.content import ContentError

ROOT = pathlib.Path(__file__).resolve().parents[1]
APPS = ["accounts", "analytics", "audiences", "billing", "cdp", "core", "journeys", "messaging"]
SUBCLASSES = [RoleError, UnmergeError, ImportFileError, ContentError, AudienceError, ConditionError, JourneyError]


def _names(cls):
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _names(sub)
    return names


def _strings(node):
    """The string literals a code expression can give (a dict's keys are not codes, its values are)."""
    keys = {id(k) for n in ast.walk(node) if isinstance(n, ast.Dict) for k in n.keys}
    return {
        n.value
        for n in ast.walk(node)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in keys
    }


def test_every_service_error_is_one_type():
    for cls in SUBCLASSES:
        assert issubclass(cls, ServiceError) and issubclass(cls, ValidationError), cls
    # Callers that caught the old bases keep working.
    assert issubclass(AudienceError, ValueError) and issubclass(ConditionError, ValueError)


def test_a_service_error_keeps_its_message_field_and_code():
    plain = ServiceError("無效", code="invalid_points")
    assert str(plain) == "無效" and plain.messages == ["無效"] and plain.code == "invalid_points"
    keyed = ServiceError("無效", field="delta", code="invalid_points")
    assert keyed.message_dict == {"delta": ["無效"]} and keyed.api_fields() == {"delta": ["無效"]}
    assert str(ContentError("module_deleted", "chatbot module deleted")) == "chatbot module deleted"
    assert ContentError("module_deleted", "x").code == "module_deleted"
    assert str(AudienceError("name", "required")) == "name: required"
    assert AudienceError("status", "no", conflict=True).code == "conflict"
    role = RoleError("不可", "owner_required")
    assert role.message_dict == {"role": ["不可"]} and role.code == "owner_required"
    assert JourneyError({"name": ["x"]}).code == "journey_invalid"


def test_every_code_used_is_documented():
    """Every literal `code` given to a ServiceError (or a subclass's default_code) is in core.errors.CODES,
    the list the README and the API description document. The events API's Rejected has its own enum."""
    classes = _names(ServiceError) - {"Rejected"}
    used = {}
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "tests" in path.parts or "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ClassDef) and node.name in classes:
                    for stmt in node.body:
                        if isinstance(stmt, ast.Assign) and any(
                            getattr(t, "id", None) == "default_code" for t in stmt.targets
                        ):
                            used.update(dict.fromkeys(_strings(stmt.value), path.name))
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name not in classes:
                    continue
                codes = set()
                for keyword in node.keywords:
                    if keyword.arg == "code":
                        codes |= _strings(keyword.value)
                if name == "ContentError" and node.args:
                    codes |= _strings(node.args[0])
                used.update(dict.fromkeys(codes, path.name))
    assert {"role_above_own", "already_unmerged", "module_deleted", "insufficient_points"} <= set(used)
    undocumented = {code: where for code, where in used.items() if code not in CODES}
    assert not undocumented


@pytest.mark.parametrize("code", sorted(CODES))
def test_codes_are_machine_readable(code):
    assert code.isascii() and code == code.lower() and " " not in code
