"""The identity of a customer (member id, phone, email), its normalisation, the advisory locks, and resolve()."""

import hashlib
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import ServiceError

from ...models import (
    Binding,
    Customer,
)
from ...phones import normalize_email, normalize_phone


class MemberIdConflict(Exception):
    """Two customers carry different non-empty member ids: they are different people and are never merged."""

    def __init__(self, member_ids):
        self.member_ids = tuple(member_ids)
        super().__init__(f"member id conflict: {' / '.join(self.member_ids)}")


class UnmergeError(ServiceError):
    """The merge cannot be undone (already undone, or its survivor has since been merged into another)."""

    default_code = "unmerge_refused"


@dataclass
class Identity:
    member_id: str = ""
    phone: str = ""
    email: str = ""

    def __bool__(self):
        return bool(self.member_id or self.phone or self.email)

    def as_dict(self):
        return {k: v for k, v in (("member_id", self.member_id), ("phone", self.phone), ("email", self.email)) if v}


@dataclass
class BindResult:
    status: str  # "bound" | "already_bound" | "member_id_conflict"
    customer: Customer
    merges: list = field(default_factory=list)
    binding: Binding | None = None


MAX_MEMBER_ID = 128


def normalize_identity(team, *, member_id="", phone="", email=""):
    """Normalise and validate; raises ValidationError keyed by field ("member_id", "phone", "email")."""
    errors = {}
    member_id = str(member_id or "").strip()
    if len(member_id) > MAX_MEMBER_ID:
        errors["member_id"] = [_("會員編號最多 %(n)s 個字元。") % {"n": MAX_MEMBER_ID}]
    try:
        phone = normalize_phone(str(phone or ""), team.default_region or "TW")
    except ValidationError as exc:
        errors["phone"] = exc.messages
    try:
        email = normalize_email(str(email or ""))
    except ValidationError:
        errors["email"] = [_("無效的 Email：%(value)s") % {"value": email}]
    if errors:
        first = next(key for key in ("phone", "email", "member_id") if key in errors)
        raise ServiceError(
            errors, code={"phone": "invalid_phone", "email": "invalid_email"}.get(first, "invalid_member_id")
        )
    return Identity(member_id=member_id, phone=phone, email=email)


# --- locking -------------------------------------------------------------------------------------------------


def _identity_keys(team, identity):
    return [
        int.from_bytes(
            hashlib.blake2b(f"{team.pk}:{kind}:{value}".encode(), digest_size=8).digest(), "big", signed=True
        )
        for kind, value in identity.as_dict().items()
    ]


def _lock_identity(team, identity):
    """Serialise concurrent work on the same identity keys (PostgreSQL advisory locks, held to commit)."""
    lock_identities(team, [identity])


def lock_identities(team, identities):
    """The advisory locks of many identities in one statement, in key order (so two batches cannot deadlock)."""
    if connection.vendor != "postgresql":
        return
    keys = sorted({key for identity in identities for key in _identity_keys(team, identity)})
    if keys:
        with connection.cursor() as cursor:
            # unnest keeps the array's order; one parameter however many keys (a chunk takes up to 750)
            cursor.execute("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", [keys])


def _lock_customers(*pks):
    """Lock the given customers in id order (deadlock-free) and return them fresh, as a dict by pk."""
    pks = sorted({pk for pk in pks if pk})
    if connection.vendor == "postgresql":
        # Every binding and merge starts here: a fixed statement skips the ORM's build (~0.3 ms of a ~5 ms merge).
        rows = Customer.objects.raw(
            f"SELECT * FROM {_table(Customer)} WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [pks]
        )
    else:
        rows = Customer.objects.select_for_update().filter(pk__in=pks).order_by("pk")
    return {customer.pk: customer for customer in rows}


# --- resolution ----------------------------------------------------------------------------------------------


def resolve(team, identity, *, exclude_member_conflicts=True):
    """The active customer the identity names (see the module docs for the order), or None."""
    active = Customer.objects.for_team(team).active()
    if identity.member_id:
        found = active.filter(member_id=identity.member_id).first()
        if found is not None:
            return found
    compatible = Q(member_id__isnull=True) | Q(member_id="")
    if identity.member_id:
        compatible |= Q(member_id=identity.member_id)
    if identity.phone and team.match_by_phone:
        found = active.filter(compatible, phone=identity.phone).order_by("created_at", "pk").first()
        if found is not None:
            return found
    if identity.email and team.match_by_email:
        found = active.filter(compatible, email=identity.email).order_by("created_at", "pk").first()
        if found is not None:
            return found
    return None


def _update(customer, updates):
    changed = {key: value for key, value in updates.items() if getattr(customer, key) != value}
    if changed:
        changed["updated_at"] = timezone.now()
        Customer.objects.filter(pk=customer.pk).update(**changed)
        for key, value in changed.items():
            setattr(customer, key, value)
    return changed


def _table(model):
    return model._meta.db_table
