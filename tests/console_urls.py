"""The console's URL patterns, walked from Django's URL resolver, for the permission and cross-team walks."""

from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.converters import IntConverter

from config.api import PRODUCT_APPS
from tests.tenancy import CONSOLE_CASES

# URL prefixes that are not the console: the API (its own walk), Django admin (staff only), sign-in pages,
# platform webhooks and tracked links, language switching, static and media files, the customer's order pages
# (signed links, commerce.public_urls), OmniLink's public card links (ol/).
NOT_CONSOLE_PREFIXES = (
    "api/",
    "admin/",
    "accounts/",
    "i18n/",
    "jsi18n/",
    "healthz",
    "webhooks/",
    "r/",
    "o/",
    "^media",
    "order/",
    "order-sandbox-pay/",
    "ol/",
    "c/",
)


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    callback: object
    converters: dict

    @property
    def has_object_id(self):
        return any(isinstance(converter, IntConverter) for converter in self.converters.values())

    def case(self, team):
        """The URL arguments of a real object of `team` (from the route's console case)."""
        return CONSOLE_CASES[self.name](team) if self.converters else {}

    def url(self, kwargs):
        return reverse(self.name, kwargs=kwargs)


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            converters = getattr(pattern.pattern, "converters", {})
            yield Route(f"{namespace}{pattern.name}", prefix + str(pattern.pattern), pattern.callback, converters)


def console_routes():
    for _app in PRODUCT_APPS:
        if find_spec(f"{_app}.tests.console_cases") is not None:
            import_module(f"{_app}.tests.console_cases")
    return [route for route in _walk(get_resolver().url_patterns) if not route.route.startswith(NOT_CONSOLE_PREFIXES)]
