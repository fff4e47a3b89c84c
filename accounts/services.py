"""Team, membership and API-key operations, shared by the console, the API, admin and commands."""

import hmac
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from .models import ApiKey, Membership, Team, hash_api_key
from .permissions import Role


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


def add_member(*, team, user, role=Role.MARKETER):
    membership, _created = Membership.objects.update_or_create(team=team, user=user, defaults={"role": role})
    return membership


@dataclass
class NewApiKey:
    api_key: ApiKey
    raw_key: str


def create_api_key(*, team, name, role=Role.ADMIN, created_by=None):
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
    add_member(team=team, user=user, role=Role.OWNER)
    return user, created_password


def remove_member(*, team, membership, acting):
    """Remove a member; returns an error message instead when it would leave the team without an owner."""
    from django.utils.translation import gettext as _

    if membership.role == Role.OWNER:
        if acting.role != Role.OWNER:
            return _("只有擁有者可以移除擁有者。")
        if Membership.objects.filter(team=team, role=Role.OWNER).count() <= 1:
            return _("團隊至少要有一位擁有者。")
    membership.delete()
    return None
