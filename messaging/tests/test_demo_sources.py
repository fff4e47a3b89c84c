"""The demo team has contacts from every one of the 20 sources, and what those sources hang on (issue 18)."""

import io

import pytest
from django.core.management import call_command

from cdp.models import Contact, ContactSource, OmoAssignment, OmoMember
from messaging.models import CommentReply, CommentRule, FriendSync

pytestmark = pytest.mark.django_db


def test_demo_team_has_contacts_from_every_source():
    call_command("seed_demo", team="demo-src", contacts=3000, seed=7, now="2026-06-01", stdout=io.StringIO())
    sources = set(Contact.objects.filter(team__slug="demo-src").values_list("source", flat=True))
    assert sources == set(ContactSource.values), set(ContactSource.values) - sources
    assert OmoMember.objects.filter(team__slug="demo-src").count() == 6
    assert OmoAssignment.objects.filter(team__slug="demo-src").exists()
    assert CommentRule.objects.filter(team__slug="demo-src", trigger_count__gt=0).count() == 3
    assert CommentReply.objects.filter(team__slug="demo-src", status="sent").exists()
    assert FriendSync.objects.filter(team__slug="demo-src", status="done").exists()
