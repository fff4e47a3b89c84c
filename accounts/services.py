"""Team, membership and API-key operations, shared by the console, the API, admin and commands."""

import hmac
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from core.errors import ServiceError

from .models import ApiKey, Membership, Team, hash_api_key
from .permissions import Role, role_may_grant


class RoleError(ServiceError):
    """A role the acting member may not give or take away. Carries the field (`role`) and a stable code, so a
    console form shows it beside the field and the API answers 400 with it."""

    def __init__(self, message, code):
        super().__init__(message, field="role", code=code)


def create_team(*, slug, name, time_zone="Asia/Taipei", contact_quota=None, currency="TWD", owner=None):
    team = Team(slug=slugify(slug) or slug, name=name, time_zone=time_zone, currency=currency)
    if contact_quota is not None:
        team.contact_quota = contact_quota
    team.full_clean()
    with transaction.atomic():
        team.save()
        if owner is not None:
            Membership.objects.create(team=team, user=owner, role=Role.OWNER)
    return team


def check_grant(*, role, granted_by):
    """Raise RoleError unless someone acting with role `granted_by` may hand out `role` (to a member or an API
    key). granted_by=None is the platform operator (Django admin, management commands), who may give any role."""
    if granted_by is not None and not role_may_grant(granted_by, role):
        message = _("只有擁有者可以指派擁有者。") if role == Role.OWNER else _("您不能指派高於自己角色的角色。")
        raise RoleError(message, code="role_above_own")


def check_membership_change(*, membership, role, acting):
    """The one rule for every membership change: raise RoleError unless `acting` may give `membership` the role
    `role` (None: remove the member). `membership` is the row as stored (None for a newcomer); `acting` is the
    acting member's Membership, or None for the platform operator.

    - nobody gives a role above their own (so only an owner appoints an owner);
    - only an owner changes or removes an owner;
    - a team always keeps at least one owner.
    Call it inside the transaction that writes, after locking the team's owners (see _lock_owners).
    """
    if role is not None:
        check_grant(role=role, granted_by=acting.role if acting is not None else None)
    if membership is None or membership.role != Role.OWNER or role == Role.OWNER:
        return
    if acting is not None and acting.role != Role.OWNER:
        message = _("只有擁有者可以移除擁有者。") if role is None else _("只有擁有者可以變更擁有者的角色。")
        raise RoleError(message, code="owner_required")
    others = Membership.objects.filter(team_id=membership.team_id, role=Role.OWNER).exclude(pk=membership.pk)
    if not others.exists():
        raise RoleError(_("團隊至少要有一位擁有者。"), code="last_owner")


def _lock_owners(team):
    """Lock the team's owner rows so two concurrent changes cannot each leave the other as the last owner."""
    list(Membership.objects.select_for_update().filter(team=team, role=Role.OWNER).values_list("pk", flat=True))


def _acting_now(acting, team):
    """The acting member as stored now: they may have been demoted or removed since their request began."""
    if acting is None:
        return None
    current = Membership.objects.filter(pk=acting.pk, team=team).first()
    if current is None:
        raise RoleError(_("您已不是這個團隊的成員。"), code="not_a_member")
    return current


def add_member(*, team, user, role, acting):
    """Add `user` to the team with `role`, or change the role of an existing member (re-adding them)."""
    with transaction.atomic():
        _lock_owners(team)
        membership = Membership.objects.select_for_update().filter(team=team, user=user).first()
        check_membership_change(membership=membership, role=role, acting=_acting_now(acting, team))
        if membership is None:
            return Membership.objects.create(team=team, user=user, role=role)
        if membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
        return membership


def remove_member(*, team, membership, acting):
    """Remove a member of `team`; raises RoleError when `acting` may not (see check_membership_change)."""
    with transaction.atomic():
        _lock_owners(team)
        stored = Membership.objects.select_for_update().filter(team=team, pk=membership.pk).first()
        if stored is None:
            return
        check_membership_change(membership=stored, role=None, acting=_acting_now(acting, team))
        stored.delete()


@dataclass
class NewApiKey:
    api_key: ApiKey
    raw_key: str


def create_api_key(*, team, name, role=Role.ADMIN, created_by=None, granted_by=None):
    """Create a key and return it with its raw value (shown once). `granted_by` is the role of whoever asks:
    the console and the API pass the caller's; nobody gets a key with a role above their own (check_grant).
    None is the platform operator (management commands, benchmarks)."""
    check_grant(role=role, granted_by=granted_by)
    prefix, raw_key = ApiKey.generate()
    api_key = ApiKey.objects.create(
        team=team, name=name, prefix=prefix, key_hash=hash_api_key(raw_key), role=role, created_by=created_by
    )
    return NewApiKey(api_key=api_key, raw_key=raw_key)


def revoke_api_key(*, team, api_key_id):
    updated = (
        ApiKey.objects.for_team(team).filter(pk=api_key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )
    return updated == 1


LAST_USED_RESOLUTION_SECONDS = 60


def authenticate_api_key(raw_key):
    """Return the active ApiKey for a raw key, or None. Touches last_used_at at most once a minute."""
    parts = raw_key.split("_")
    if len(parts) < 3 or parts[0] != "scdp":
        return None
    api_key = ApiKey.objects.select_related("team").filter(prefix=parts[1], revoked_at__isnull=True).first()
    if api_key is None:
        return None
    if not hmac.compare_digest(api_key.key_hash, hash_api_key(raw_key)):
        return None
    now = timezone.now()
    if api_key.last_used_at is None or (now - api_key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def ensure_demo_login(*, team, email="demo@example.com", password="demo-password-2026"):
    """Create the demo user (owner of the demo team) if missing. Returns (user, password or None if it existed)."""
    User = get_user_model()
    user = User.objects.filter(username=email).first()
    created_password = None
    if user is None:
        user = User.objects.create_user(
            username=email, email=email, password=password, is_staff=True, is_superuser=True
        )
        created_password = password
    add_member(team=team, user=user, role=Role.OWNER, acting=None)
    return user, created_password
