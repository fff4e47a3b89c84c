"""The import-linter contract (pyproject.toml, run by bin/test) covers every app of the project, each in one layer:
an app left out of it could import upward unnoticed."""

import tomllib
from pathlib import Path

from django.apps import apps
from django.conf import settings


def _layers():
    config = tomllib.loads((settings.BASE_DIR / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["id"] == "layers"]
    return config["root_packages"], [sorted(name.strip() for name in layer.split("|")) for layer in contract["layers"]]


def test_every_app_and_core_is_in_exactly_one_layer():
    root_packages, layers = _layers()
    in_layers = [name for layer in layers for name in layer]
    assert len(in_layers) == len(set(in_layers)) and set(in_layers) == set(root_packages)
    project_apps = {config.name for config in apps.get_app_configs() if Path(config.path).parent == settings.BASE_DIR}
    assert project_apps | {"core"} == set(root_packages)


def test_the_layers_are_architecture_mds():
    """core ← accounts ← cdp, billing ← messaging ← audiences, commerce ← journeys; analytics on top, read by nobody."""
    _, layers = _layers()
    assert layers == [
        ["analytics"],
        ["journeys"],
        ["audiences", "commerce", "omnilink"],
        ["coupons"],
        ["messaging"],
        ["billing", "cdp"],
        ["accounts"],
        ["core"],
    ]
