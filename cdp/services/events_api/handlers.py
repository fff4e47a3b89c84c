"""One handler per event type, applied alone in its savepoint."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from core.errors import ServiceError
from core.params import parse_id

from ...events import record_event
from ...models import (
    BindingMethod,
    ChannelKind,
    Contact,
    Customer,
    EventType,
    UnsubscribeScope,
)
from .. import attributes, binding_links, contacts, customers, identity, tags
from .checks import SOURCE_FOR_METHOD, Rejected, _data_errors, check_pixel, contact_source


def apply_event(batch, type_, occurred_at, data):
    if type_.startswith("system."):
        return _system(batch, type_[len("system.") :], occurred_at, data)
    return HANDLERS[type_](batch, occurred_at, data)


def _text(data, key):
    value = data.get(key, "")
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise Rejected({f"data.{key}": [_("必須是文字。")]}, "invalid_data")
    return value.strip()


def _identify(batch, occurred_at, data):
    attrs = data.get("attributes") or {}
    if not isinstance(attrs, dict):
        raise Rejected({"data.attributes": [_("自訂屬性必須是 {key: value} 物件。")]})
    if attrs:
        try:
            attributes.validate_values(batch.team, attrs)
        except ValidationError as exc:
            raise Rejected(_data_errors(exc, "data.attributes"))
    pixel_channel = None
    if data.get("channel") not in (None, ""):
        # Pixel: the website reports a member whose phone is a WhatsApp number, for this WhatsApp channel.
        pixel_channel = _channel(batch, data)
        check_pixel(pixel_channel, BindingMethod.PIXEL)
        if not _text(data, "phone"):
            raise Rejected({"data.phone": [_("Pixel 需要會員的電話號碼。")]}, "invalid_phone")
        contact_source(data, None)
    identity.identify_member(
        team=batch.team,
        member_id=_text(data, "member_id"),
        phone=_text(data, "phone"),
        email=_text(data, "email"),
        name=_text(data, "name"),
        attributes=attrs,
        occurred_at=occurred_at,
        source="api",
    )
    if pixel_channel is not None:
        _binding(batch, occurred_at, {**data, "external_id": _text(data, "phone"), "method": BindingMethod.PIXEL})


def _channel(batch, data):
    channel = batch.channels.get(parse_id(data.get("channel")))
    if channel is None:
        raise Rejected({"data.channel": [_("找不到渠道：%(value)s") % {"value": data.get("channel")}]})
    return channel


def _external_id(batch, channel, data):
    raw = _text(data, "external_id")
    if not raw:
        raise Rejected({"data.external_id": [_("需要聯絡人的渠道 ID（external_id）。")]})
    if len(raw) > 128:
        raise Rejected({"data.external_id": [_("external_id 最多 128 個字元。")]})
    return batch.external_id(channel, raw)


def _existing_contact(batch, data):
    channel = _channel(batch, data)
    external_id = _external_id(batch, channel, data)
    contact = batch.contacts.get((channel.pk, external_id))
    if contact is None:
        contact = Contact.objects.for_team(batch.team).filter(channel=channel, external_id=external_id).first()
    if contact is None:
        raise Rejected(
            {"data.external_id": [_("此渠道沒有這位聯絡人：%(value)s") % {"value": external_id}]}, "unknown_contact"
        )
    return contact


def _token_binding(batch, occurred_at, data):
    """binding with a binding link token instead of channel + external_id: the token names the contact (and the
    method, when the link set one)."""
    try:
        contact, token_method = binding_links.read_token(batch.team, data.get("token"))
    except ServiceError as exc:
        raise Rejected({"data.token": exc.messages}, exc.code)
    method = token_method or data.get("method")
    if method not in BindingMethod.values:
        raise Rejected({"data.method": [_("綁定方式必須是：%(values)s") % {"values": ", ".join(BindingMethod.values)}]})
    _bind(contact, method, occurred_at, data)


def _bind(contact, method, occurred_at, data):
    result = identity.bind_contact(
        contact=contact,
        method=method,
        member_id=_text(data, "member_id"),
        phone=_text(data, "phone"),
        email=_text(data, "email"),
        occurred_at=occurred_at,
    )
    if result.status == "member_id_conflict":
        raise Rejected(
            {
                "data.member_id": [
                    _("會員編號衝突：此聯絡人的顧客已有其他會員編號（%(current)s）。")
                    % {"current": result.customer.member_id}
                ]
            },
            "member_id_conflict",
        )


def _binding(batch, occurred_at, data):
    if data.get("token") not in (None, ""):
        return _token_binding(batch, occurred_at, data)
    method = data.get("method")
    if method not in BindingMethod.values:
        raise Rejected({"data.method": [_("綁定方式必須是：%(values)s") % {"values": ", ".join(BindingMethod.values)}]})
    channel = _channel(batch, data)
    check_pixel(channel, method)
    external_id = _external_id(batch, channel, data)
    source = contact_source(data, SOURCE_FOR_METHOD[BindingMethod(method)])
    contact = batch.contacts.get((channel.pk, external_id))
    if contact is None:
        phone = external_id if channel.kind == ChannelKind.WHATSAPP and external_id.startswith("+") else ""
        # A new contact whose member already has a customer is born attached to it (no customer, no merge).
        known = identity.resolve(
            batch.team,
            identity.normalize_identity(
                batch.team, member_id=_text(data, "member_id"), phone=_text(data, "phone"), email=_text(data, "email")
            ),
        )
        contact = contacts.upsert_contact(
            customer=known,
            known_missing=(channel.pk, external_id) in batch.looked_up,
            channel=channel,
            external_id=external_id,
            occurred_at=occurred_at,
            source=source,
            phone=phone,
            business_scoped_id="" if phone or channel.kind != ChannelKind.WHATSAPP else external_id,
        ).contact
        batch.contacts[(channel.pk, external_id)] = contact
    _bind(contact, method, occurred_at, data)


def resolve_reference(batch, data):
    """The customer an event refers to (see the module docs)."""
    member_id = _text(data, "member_id")
    if member_id:
        found = Customer.objects.for_team(batch.team).active().filter(member_id=member_id).first()
        if found is not None:
            return found
        ident = identity.normalize_identity(batch.team, member_id=member_id)
        try:
            with transaction.atomic():
                return Customer.objects.create(team=batch.team, member_id=ident.member_id)
        except IntegrityError:
            return Customer.objects.for_team(batch.team).active().get(member_id=member_id)
    if data.get("customer") not in (None, ""):
        pk = parse_id(data.get("customer"))
        customer = Customer.objects.for_team(batch.team).filter(pk=pk).first() if pk else None
        hops = 0
        while customer is not None and customer.merged_into_id and hops < 20:
            customer = Customer.objects.get(pk=customer.merged_into_id)
            hops += 1
        if customer is None:
            raise Rejected({"data.customer": [_("找不到顧客：%(value)s") % {"value": data.get("customer")}]})
        return customer
    if data.get("channel") not in (None, "") or data.get("external_id"):
        return Customer.objects.get(pk=_existing_contact(batch, data).customer_id)
    raise Rejected({"data": [_("需要顧客參照：member_id、customer，或 channel + external_id。")]}, "missing_reference")


def _coupon_code(data, key):
    code = _text(data, key)
    if len(code) > 64:
        raise Rejected({f"data.{key}": [_("優惠券代碼最多 64 個字元。")]}, "invalid_coupon")
    return code


def _checkout(batch, occurred_at, data):
    coupon_code = _coupon_code(data, "coupon_code")
    customer = resolve_reference(batch, data)
    customers.record_checkout(
        customer=customer,
        order_id=_text(data, "order_id"),
        amount=data.get("amount"),
        currency=data.get("currency") or batch.team.currency,
        items=data.get("items"),
        occurred_at=occurred_at,
        coupon_code=coupon_code,
    )


def _coupon_redeemed(batch, occurred_at, data):
    """The website redeemed a coupon code (with the order it was used on, if any). A timeline event: the coupons
    app reads it through the hand-off and marks the claim redeemed (a code of no campaign stays on the timeline)."""
    code = _coupon_code(data, "code")
    if not code:
        raise Rejected({"data.code": [_("需要優惠券代碼（code）。")]}, "invalid_coupon")
    order_id = _text(data, "order_id")
    if len(order_id) > 128:
        raise Rejected({"data.order_id": [_("需要訂單編號（最多 128 字元）。")]}, "invalid_order")
    customer = resolve_reference(batch, data)
    record_event(
        team=batch.team,
        customer=customer,
        type=EventType.COUPON_REDEEMED,
        occurred_at=occurred_at,
        data={"code": code, "order_id": order_id},
    )


def _tag_names(data):
    names = data.get("tags")
    if not isinstance(names, list) or not names:
        raise Rejected({"data.tags": [_("需要標籤清單（tags）。")]})
    return names


def _tag_add(batch, occurred_at, data):
    names = _tag_names(data)
    customer = resolve_reference(batch, data)
    channel = batch.channels.get(parse_id(data.get("channel")))
    tags.add_tags(customer=customer, names=names, source="api", channel=channel, occurred_at=occurred_at)


def _tag_remove(batch, occurred_at, data):
    names = _tag_names(data)
    customer = resolve_reference(batch, data)
    tags.remove_tags(customer=customer, names=names, source="api", occurred_at=occurred_at)


def _attribute_set(batch, occurred_at, data):
    values = data.get("attributes")
    if not isinstance(values, dict) or not values:
        raise Rejected({"data.attributes": [_("需要自訂屬性 {key: value}（attributes）。")]})
    customer = resolve_reference(batch, data)
    try:
        attributes.set_attributes(customer=customer, values=values, source="api", occurred_at=occurred_at)
    except ValidationError as exc:
        raise Rejected(_data_errors(exc, "data.attributes"))


def _unsubscribe(batch, occurred_at, data):
    scope = data.get("scope")
    if scope not in UnsubscribeScope.values:
        raise Rejected({"data.scope": [_("scope 必須是：%(values)s") % {"values": ", ".join(UnsubscribeScope.values)}]})
    contact = _existing_contact(batch, data)
    contacts.set_unsubscribed(contact, scope=scope, unsubscribed=True, occurred_at=occurred_at)


REFERENCE_KEYS = ("member_id", "customer", "channel", "external_id")


def _system(batch, name, occurred_at, data):
    customer = resolve_reference(batch, data)
    payload = {key: value for key, value in data.items() if key not in REFERENCE_KEYS}
    record_event(
        team=batch.team,
        customer=customer,
        channel=batch.channels.get(parse_id(data.get("channel"))),
        type=EventType.SYSTEM,
        occurred_at=occurred_at,
        data={**payload, "name": name},
    )


HANDLERS = {
    "member.identify": _identify,
    "binding": _binding,
    "checkout.completed": _checkout,
    "tag.add": _tag_add,
    "tag.remove": _tag_remove,
    "attribute.set": _attribute_set,
    "unsubscribe": _unsubscribe,
    "coupon.redeemed": _coupon_redeemed,
}
