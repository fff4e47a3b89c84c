"""The README's permission table is documentation users rely on: it must match accounts/permissions.py."""

import re

from django.conf import settings

from accounts.permissions import PERMISSIONS, ROLE_PERMISSIONS, Role


def test_readme_permission_table_matches_the_matrix():
    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- PERMISSIONS:START -->")[1].split("<!-- PERMISSIONS:END -->")[0]
    rows = [line for line in table.strip().splitlines() if line.startswith("| `")]
    header = [cell.strip() for cell in table.strip().splitlines()[0].strip("|").split("|")][1:]
    assert header == [role.value for role in Role]
    documented = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        permission = re.match(r"`([^`]+)`", cells[0]).group(1)
        documented[permission] = {role for role, mark in zip(header, cells[1:], strict=True) if mark == "✓"}
    assert set(documented) == set(PERMISSIONS)
    for permission, roles in documented.items():
        assert roles == {role.value for role in Role if permission in ROLE_PERMISSIONS[role]}, permission
