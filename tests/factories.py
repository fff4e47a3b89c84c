import factory
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import Membership, Team
from accounts.permissions import Role
from accounts.services import create_api_key


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["slug"]

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")
    time_zone = "Asia/Taipei"
    contact_quota = 10000


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.LazyAttribute(lambda o: o.username)

    @factory.post_generation
    def password(obj, create, extracted, **kwargs):
        obj.set_password(extracted or "pw-for-tests-123")
        if create:
            obj.save(update_fields=["password"])


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    team = factory.SubFactory(TeamFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.MARKETER


def api_key_for(team, role=Role.ADMIN, name="test key"):
    return create_api_key(team=team, name=name, role=role)


def api_client_for(team, role=Role.ADMIN):
    client = APIClient()
    new = api_key_for(team, role=role)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.raw_key}")
    client.api_key = new.api_key
    client.team = team
    return client
