"""What every cdp API resource shares: the permissions it requires and a service error as a 400."""

from rest_framework.exceptions import ValidationError as DRFValidationError

from core.errors import ServiceError

VIEW = "customers.view"
EDIT = "customers.edit"


def _raise(exc):
    """A django ValidationError from a service → the API's 400 with fields (a ServiceError keeps its code: the
    exception handler renders it)."""
    if isinstance(exc, ServiceError):
        raise exc
    if hasattr(exc, "error_dict"):
        raise DRFValidationError(exc.message_dict)
    raise DRFValidationError({"non_field_errors": exc.messages})
