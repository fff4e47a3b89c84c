import pytest
from django.urls import reverse

from audiences.models import AudiencePack
from audiences.tests.factories import AudiencePackFactory, BroadcastFactory
from cdp.models import CustomerTag
from cdp.tests.factories import ChannelFactory, ContactFactory, TagFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(team):
    line = ChannelFactory(team=team, kind="line")
    vip = TagFactory(team=team, name="VIP")
    contacts = [ContactFactory(channel=line) for _ in range(3)]
    CustomerTag.objects.create(team=team, customer=contacts[0].customer, tag=vip)
    return line, vip, contacts


def form(line, vip, **extra):
    data = {
        "name": "VIP",
        "channel": line.pk,
        "r.kind": "group",
        "r.op": "and",
        "r.0.kind": "cond",
        "r.0.type": "tag",
        "r.0.op": "has",
        "r.0.match": "any",
        "r.0.tags": [vip.pk],
    }
    data.update(extra)
    return data


def test_pages_render(console, team, setup):
    pack = AudiencePackFactory(team=team, channel=setup[0])
    BroadcastFactory(team=team, pack=pack, channel=pack.channel)
    for url in [
        reverse("audiences:index"),
        reverse("audiences:index") + "?tab=archived",
        reverse("audiences:pack-new"),
        reverse("audiences:pack-edit", args=[pack.pk]),
        reverse("audiences:broadcasts"),
        reverse("audiences:broadcast-new") + f"?pack={pack.pk}",
    ]:
        assert console.get(url).status_code == 200, url


def test_create_pack_from_the_builder(console, team, setup):
    line, vip, _contacts = setup
    response = console.post(reverse("audiences:pack-new"), form(line, vip))
    assert response.status_code == 302
    pack = AudiencePack.objects.get(team=team)
    assert pack.conditions == {
        "op": "and",
        "children": [{"type": "tag", "op": "has", "match": "any", "tags": [vip.pk]}],
    }


def test_bad_builder_input_is_shown_in_words(console, team, setup):
    line, vip, _ = setup
    response = console.post(reverse("audiences:pack-new"), form(line, vip, **{"r.0.tags": []}))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="flash flash-error"' in html
    assert "conditions.children[0].tags" not in html  # issue 20.4: never a raw field key
    assert not AudiencePack.objects.exists()


def test_live_count_preview_and_drawer(console, team, setup):
    line, vip, contacts = setup
    response = console.post(reverse("audiences:count"), form(line, vip), HTTP_HX_REQUEST="true")
    assert 'class="kpi-value">1<' in response.content.decode()
    response = console.post(reverse("audiences:preview"), form(line, vip), HTTP_HX_REQUEST="true")
    assert contacts[0].external_id in response.content.decode()
    assert contacts[1].external_id not in response.content.decode()
    drawer = console.get(reverse("audiences:customer-drawer", args=[contacts[0].customer_id]))
    assert "VIP" in drawer.content.decode()


def test_builder_actions(console, setup):
    line, vip, _ = setup
    response = console.post(reverse("audiences:builder"), form(line, vip, action="add_group:r"))
    body = response.content.decode()
    assert 'name="r.1.kind" value="group"' in body and 'name="r.1.0.kind" value="cond"' in body
    response = console.post(reverse("audiences:builder"), form(line, vip, action="remove:r.0"))
    assert 'name="r.0.kind"' not in response.content.decode()


def test_pack_actions_and_tenancy(console, team, other_team, setup):
    pack = AudiencePackFactory(team=team, channel=setup[0])
    response = console.post(reverse("audiences:pack-copy", args=[pack.pk]))
    copy = AudiencePack.objects.exclude(pk=pack.pk).get()
    assert response.url == reverse("audiences:pack-edit", args=[copy.pk]) and copy.conditions == pack.conditions
    console.post(reverse("audiences:pack-archive", args=[pack.pk]))
    pack.refresh_from_db()
    assert pack.is_archived
    foreign = AudiencePackFactory(team=other_team)
    assert console.get(reverse("audiences:pack-edit", args=[foreign.pk])).status_code == 404
    assert console.post(reverse("audiences:pack-archive", args=[foreign.pk])).status_code == 404


def test_instagram_pack_cannot_be_broadcast(console, team):
    ig = ChannelFactory(team=team, kind="instagram")
    AudiencePackFactory(team=team, channel=ig, name="IG fans")
    body = console.get(reverse("audiences:index")).content.decode()
    assert "IG fans" in body and "broadcast-new" not in body and "/broadcasts/new/?pack=" not in body


def test_the_pack_picker_reloads_its_list_each_time_it_opens(console, team, other_team):
    """Issue 24.11 (seed 004 「每次點擊會重整受眾包最新清單」): a pack saved after the broadcast page was opened (in
    another tab) is in the list the picker fetches when opened; archived packs and other teams' packs are not."""
    line = ChannelFactory(team=team, kind="line")
    first = AudiencePackFactory(team=team, channel=line, name="舊的受眾包")
    page = console.get(reverse("audiences:broadcast-new")).content.decode()
    url = reverse("audiences:broadcast-pack-options")
    assert f'hx-get="{url}"' in page and 'hx-trigger="mousedown, focus"' in page
    later = AudiencePackFactory(team=team, channel=line, name="另一分頁新建")
    archived = AudiencePackFactory(team=team, channel=line, name="已封存")
    archived.archived_at = archived.created_at
    archived.save()
    theirs = AudiencePackFactory(team=other_team, channel=ChannelFactory(team=other_team, kind="line"), name="別隊")
    options = console.get(url, {"pack": first.pk}, HTTP_HX_REQUEST="true").content.decode()
    assert "另一分頁新建" in options and f'value="{later.pk}"' in options
    assert f'value="{first.pk}" selected' in options  # the current choice stays chosen
    assert "已封存" not in options and theirs.name not in options
