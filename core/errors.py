"""One error vocabulary (issue 22.4): a service refuses with a ServiceError carrying a message, the field that is
wrong (or none) and a stable machine-readable `code`; one DRF exception handler
(accounts.api_base.api_exception_handler) renders it as a 400 in the API's error format, with that code.

ServiceError is a django ValidationError, so every caller that already catches ValidationError (console forms,
`exc.messages`, `exc.message_dict`, the journey engine) keeps working unchanged, and a console form can attach it
to its field with `form.add_error(None, exc)`. str() is the message as given (as a plain Exception's), which the
subclasses that were plain Exceptions relied on.
"""

from django.core.exceptions import ValidationError

# Every `code` a ServiceError (or an events API rejection) may carry, with what it means. The API schema documents
# this enum; tests check that every code used in the code base is listed here.
CODES = {
    "invalid": "Bad input (the generic code; `fields` names what is wrong).",
    "conflict": "The object's state forbids the operation (HTTP 409).",
    # accounts
    "role_above_own": "A role above the acting member's own.",
    "owner_required": "Only an owner may do this.",
    "last_owner": "A team keeps at least one owner.",
    "not_a_member": "The person is not a member of the team.",
    # cdp
    "unmerge_refused": "The merge cannot be undone.",
    "already_unmerged": "The merge was undone already.",
    "survivor_merged_since": "The merge's survivor has since been merged into another customer.",
    "import_file_invalid": "The uploaded file cannot be read as CSV.",
    "empty_file": "The uploaded file is empty.",
    "not_utf8": "The uploaded file is not UTF-8.",
    "not_csv": "The uploaded file is not valid CSV.",
    "no_header": "The file's first row is not column names.",
    "missing_columns": "The file lacks columns the mapping names.",
    "member_id_conflict": "Different non-empty member ids: different people, never merged.",
    "missing_identity": "A member id, phone or email is needed.",
    "invalid_member_id": "The member id is too long.",
    "invalid_phone": "Not a phone number (read with the team's default region).",
    "invalid_email": "Not an email address.",
    "invalid_method": "Unknown binding method.",
    "invalid_points": "Points must be a non-zero integer within the limit.",
    "insufficient_points": "A deduction larger than the balance (and the team does not allow negative balances).",
    "invalid_source": "Unknown points source.",
    "invalid_idempotency_key": "The idempotency key is too long.",
    "idempotency_conflict": "The idempotency key was used for a different change (HTTP 409).",
    "customer_merged": "The customer was merged into another one; use the survivor.",
    "invalid_items": "Checkout items are not a list of {name, quantity, price}.",
    "invalid_order_id": "An order id is needed (at most 128 characters).",
    "duplicate_order_id": "The order id exists already.",
    "invalid_amount": "The amount is not a number in range.",
    "invalid_currency": "The currency is not three letters (ISO 4217).",
    "invalid_url": "Not an http(s) URL.",
    "invalid_token": "A binding link token that is forged, altered or not a token.",
    "expired_token": "A binding link token older than the team's binding link expiry.",
    "foreign_token": "A binding link token of another team.",
    "unknown_contact": "No contact of the team with that id.",
    # messaging (ContentError codes: why content cannot be sent)
    "content_invalid": "The content cannot be sent on this channel.",
    "module_deleted": "The chatbot module was deleted.",
    "template_deleted": "The WhatsApp template was deleted.",
    "template_unusable": "The WhatsApp template is not approved.",
    "bad_content": "Unknown content or module type.",
    "unsupported": "The content's kind cannot be sent on this channel's platform.",
    # audiences
    "audience_invalid": "Bad input for an audience pack or broadcast.",
    "condition_invalid": "A condition tree that cannot be used.",
    # coupons
    "coupon_invalid": "Bad input for a coupon campaign or its codes.",
    # journeys
    "journey_invalid": "A refused journey operation.",
    # commerce
    "outside_window": "WhatsApp allows the order link only within 24 hours of the customer's last message.",
    "contact_unreachable": "The contact cannot receive messages now (blocked, over quota, channel off, no budget).",
    # omnilink
    "omnilink_invalid": "Bad input for an OmniLink campaign.",
    "invalid_range": "A participation range that cannot be read (both dates, YYYY-MM-DD, end not before start).",
    "range_too_long": "A participation range longer than 90 days.",
    "range_required": "The export needs a participation range (設定時間區間後，才可匯出名單).",
}


class ServiceError(ValidationError):
    """A refused service operation: message, field (None: the operation as a whole) and a stable code."""

    default_code = "invalid"
    status = 400

    def __init__(self, message, *, field=None, code=None, params=None):
        code = code or self.default_code
        if field is not None and not isinstance(message, dict | list):
            super().__init__({field: [ValidationError(message, code=code, params=params)]})
        else:
            super().__init__(message, code=code, params=params)
        self._text = None if isinstance(message, dict | list) or field is not None else message
        self.field = field
        self.code = code

    def __str__(self):
        if self._text is not None:
            return str(self._text % self.params if self.params else self._text)
        return super().__str__()

    def api_fields(self):
        """{field: [messages]} as the API's error format shows them."""
        if hasattr(self, "error_dict"):
            return self.message_dict
        if self.field:
            return {self.field: self.messages}
        return {"non_field_errors": self.messages}
