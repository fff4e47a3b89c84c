"""The cdp REST API: events feed, channels, contacts, customers (tags, attributes, points, bindings), tags,
attribute definitions, merges (un-merge), OMO 綁定's members and records, and the contact quota. Every write
calls cdp.services."""

from .channels import ChannelViewSet  # noqa: F401
from .common import EDIT, VIEW, _raise  # noqa: F401
from .contacts import ContactViewSet  # noqa: F401
from .customers import CustomerViewSet  # noqa: F401
from .events import EVENT_EXAMPLES, events_view, quota_view  # noqa: F401
from .merges import MergeViewSet  # noqa: F401
from .omo import OmoAssignmentViewSet, OmoMemberViewSet  # noqa: F401
from .tags import AttributeDefinitionViewSet, TagViewSet  # noqa: F401
