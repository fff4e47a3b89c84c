"""The customer console: list, filters, 360° page, tags, attributes, unsubscribe, un-merge; tenancy and roles."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cdp.models import Contact, CustomAttribute, Customer, CustomerEvent, MergeRecord, Tag
from cdp.services import identity, tags
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerTagFactory, TagFactory
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def line(team):
    return ChannelFactory(team=team, kind="line", name="LINE 官方帳號")


@pytest.fixture
def fb(team):
    return ChannelFactory(team=team, kind="facebook", name="粉專")


def client_for(client, team, role):
    user = MembershipFactory(team=team, role=role).user
    client.force_login(user)
    return client


def names(response):
    return [row["customer"].name for row in response.context["rows"]]


def test_list_shows_quota_channels_tags_and_attributes(console, team, line, fb):
    contact = ContactFactory(channel=line, display_name="王小明")
    ContactFactory(channel=fb, customer=contact.customer, external_id="psid-1")
    CustomerTagFactory(customer=contact.customer, tag=TagFactory(team=team, name="VIP"))
    response = console.get(reverse("cdp:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "名單配額使用量" in html
    quota = console.get(reverse("cdp:quota")).content.decode()
    assert 'data-testid="quota-used">2<' in quota and "<html" not in quota
    assert names(response) == ["王小明"]
    row = response.context["rows"][0]
    assert [c["kind"] for c in row["channels"]] == ["line", "facebook"]
    assert row["tags"] == ["VIP"]


def test_search_by_member_phone_email_channel_id_tag_and_name(console, team, line):
    a = ContactFactory(channel=line, display_name="陳大文", external_id="U" + "a" * 32).customer
    Customer.objects.filter(pk=a.pk).update(member_id="M001", phone="+886912345678", email="a@example.com")
    b = ContactFactory(channel=line, display_name="林美玲").customer
    CustomerTagFactory(customer=b, tag=TagFactory(team=team, name="回購客"))
    for term, expected in [
        ("M001", ["陳大文"]),
        ("0912-345-678", ["陳大文"]),
        ("A@Example.com", ["陳大文"]),
        ("U" + "a" * 32, ["陳大文"]),
        ("回購客", ["林美玲"]),
        ("林", ["林美玲"]),
        ("nobody", []),
    ]:
        assert names(console.get(reverse("cdp:index"), {"q": term})) == expected, term


def test_filters_use_exists_and_render_the_partial_for_htmx(console, team, line, fb):
    on_line = ContactFactory(channel=line, display_name="LINE 客")
    blocked = ContactFactory(channel=fb, display_name="FB 客", status="blocked")
    Customer.objects.filter(pk=blocked.customer_id).update(is_bound=True, is_member=True)
    vip = TagFactory(team=team, name="VIP")
    CustomerTagFactory(customer=on_line.customer, tag=vip)
    url = reverse("cdp:index")
    assert names(console.get(url, {"channel": line.pk})) == ["LINE 客"]
    assert names(console.get(url, {"tag": vip.pk})) == ["LINE 客"]
    assert names(console.get(url, {"status": "blocked"})) == ["FB 客"]
    assert names(console.get(url, {"status": "blocked", "channel": line.pk})) == []
    assert names(console.get(url, {"bound": "yes"})) == ["FB 客"]
    assert names(console.get(url, {"member": "no"})) == ["LINE 客"]
    partial = console.get(url, {"tag": vip.pk}, HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert "<html" not in body and "LINE 客" in body and "FB 客" not in body
    # Another team's tag id is not a valid choice: a clear error, no rows.
    other_tag = TagFactory(team=ChannelFactory(kind="line").team, name="VIP")
    response = console.get(url, {"tag": other_tag.pk})
    assert response.context["rows"] == [] and response.context["filter"].errors
    # An archived tag still filters the customers who carry it, listed last and marked.
    Tag.objects.filter(pk=vip.pk).update(archived_at=timezone.now())
    page = console.get(url, {"tag": vip.pk})
    assert names(page) == ["LINE 客"] and "VIP（已封存）" in page.content.decode()


def test_keyset_pagination(console, team, line, monkeypatch):
    monkeypatch.setattr("cdp.filters.PAGE_SIZE", 3)
    now = timezone.now()
    for i in range(7):
        contact = ContactFactory(channel=line, display_name=f"c{i}")
        Customer.objects.filter(pk=contact.customer_id).update(created_at=now - timedelta(minutes=i))
    from cdp import filters

    seen, cursor = [], None
    for _ in range(3):
        rows, cursor = filters.keyset_page(Customer.objects.for_team(team), cursor, size=3)
        seen += [c.name for c in rows]
        if not cursor:
            break
    assert seen == [f"c{i}" for i in range(7)] and cursor is None
    page2 = console.get(reverse("cdp:index"), {"after": filters.encode_cursor(Customer.objects.get(name="c2"))})
    assert names(page2)[:2] == ["c3", "c4"]
    assert console.get(reverse("cdp:index"), {"after": "garbage"}).status_code == 200


def test_customer_360_page(console, team, line, fb):
    contact = ContactFactory(channel=line, display_name="王小明")
    ContactFactory(channel=fb, customer=contact.customer, external_id="psid-9", fb_recurring_optin=True)
    tags.add_tags(customer=contact.customer, names=["VIP"], source="console")
    response = console.get(reverse("cdp:customer", args=[contact.customer_id]))
    html = response.content.decode()
    assert response.status_code == 200
    for label in ["基本資料", "會員編號", "跨渠道客人最後互動時間", "訂閱狀態", "加入訂閱時間", "綁定成員（分店）"]:
        assert label in html, label
    assert "訂閱 FB 定期通知" in html  # the Facebook card only
    assert html.count("訂閱 FB 定期通知") == 1
    assert f"/messaging/conversations/{contact.pk}/" in html
    assert "推播訊息" in html and "官網顧客行銷推播" in html and "購物車再行銷訊息" in html
    assert "新增標籤" in html and "VIP" in html  # the timeline shows the tag event


def test_other_teams_objects_are_404(console, other_team):
    channel = ChannelFactory(team=other_team, kind="line")
    contact = ContactFactory(channel=channel)
    tag = TagFactory(team=other_team, name="X")
    attribute = CustomAttribute.objects.create(team=other_team, key="k", label="K")
    record = MergeRecord.objects.create(team=other_team, survivor=contact.customer, absorbed=contact.customer)
    pk = contact.customer_id
    assert console.get(reverse("cdp:customer", args=[pk])).status_code == 404
    assert console.get(reverse("cdp:customer-timeline", args=[pk])).status_code == 404
    assert console.post(reverse("cdp:customer-tags", args=[pk]), {"name": "x"}).status_code == 404
    url = reverse("cdp:contact-unsubscribe", args=[contact.pk])
    assert console.post(url, {"scope": "broadcast"}).status_code == 404
    assert console.post(reverse("cdp:unmerge", args=[record.pk])).status_code == 404
    assert console.post(reverse("cdp:tag-rename", args=[tag.pk]), {"name": "Y"}).status_code == 404
    assert console.post(reverse("cdp:tag-archive", args=[tag.pk])).status_code == 404
    assert console.post(reverse("cdp:attribute-update", args=[attribute.pk]), {"action": "archive"}).status_code == 404
    contact.refresh_from_db()
    assert not contact.unsubscribed_broadcast and Tag.objects.get(pk=tag.pk).name == "X"


def test_unsubscribe_by_scope_with_htmx(console, team, line):
    contact = ContactFactory(channel=line)
    url = reverse("cdp:contact-unsubscribe", args=[contact.pk])
    response = console.post(url, {"scope": "broadcast", "unsubscribed": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "已取消訂閱" in response.content.decode() and "<html" not in response.content.decode()
    contact.refresh_from_db()
    assert contact.unsubscribed_broadcast and contact.status == "unsubscribed"
    assert CustomerEvent.objects.filter(customer=contact.customer, type="unsubscribed").exists()
    console.post(url, {"scope": "broadcast", "unsubscribed": "0"})
    contact.refresh_from_db()
    assert contact.status == "subscribed"
    assert console.post(url, {"scope": "welcome"}).status_code == 400


def test_tags_on_the_360_page(console, team, line):
    customer = ContactFactory(channel=line).customer
    url = reverse("cdp:customer-tags", args=[customer.pk])
    response = console.post(url, {"name": "週年慶"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "週年慶" in response.content.decode()
    assert list(customer.customer_tags.values_list("tag__name", flat=True)) == ["週年慶"]
    console.post(url, {"remove": "週年慶"})
    assert not customer.customer_tags.exists()
    assert console.post(url, {"name": "x" * 101}).status_code == 400
    assert console.post(url, {}).status_code == 400


def test_unmerge_from_the_360_page(console, team, line, fb):
    a = ContactFactory(channel=line)
    b = ContactFactory(channel=fb)
    identity.bind_contact(contact=a, method="api", member_id="M1")
    result = identity.bind_contact(contact=b, method="api", member_id="M1")
    record = result.merges[0]
    survivor = record.survivor
    page = console.get(reverse("cdp:customer", args=[survivor.pk])).content.decode()
    assert "取消合併" in page
    response = console.post(reverse("cdp:unmerge", args=[record.pk]))
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.unmerged_at is not None
    assert Contact.objects.get(pk=a.pk).customer_id != Contact.objects.get(pk=b.pk).customer_id
    # The absorbed customer's page redirects to the survivor while merged; after un-merge it is its own page again.
    absorbed = record.absorbed
    assert console.get(reverse("cdp:customer", args=[absorbed.pk])).status_code == 200


def test_tag_and_attribute_management(console, team):
    assert console.post(reverse("cdp:tag-create"), {"name": "新客"}).status_code == 302
    tag = Tag.objects.get(team=team, name="新客")
    assert console.post(reverse("cdp:tag-create"), {"name": "新客"}).status_code == 400
    console.post(reverse("cdp:tag-rename", args=[tag.pk]), {"name": "首購客"})
    tag.refresh_from_db()
    assert tag.name == "首購客"
    console.post(reverse("cdp:tag-archive", args=[tag.pk]))
    tag.refresh_from_db()
    assert tag.archived_at is not None
    assert "首購客" in console.get(reverse("cdp:tags")).content.decode()

    response = console.post(reverse("cdp:attribute-create"), {"key": "bad key", "label": "x", "type": "text"})
    assert response.status_code == 400 and "屬性代碼只能包含" in response.content.decode()
    console.post(reverse("cdp:attribute-create"), {"key": "level", "label": "等級", "type": "text"})
    attribute = CustomAttribute.objects.get(team=team, key="level")
    url = reverse("cdp:attribute-update", args=[attribute.pk])
    console.post(url, {"action": "type", "type": "number"})  # not confirmed: unchanged
    attribute.refresh_from_db()
    assert attribute.type == "text"
    page = console.get(reverse("cdp:attributes")).content.decode()
    assert "使用此屬性的顧客旅程將會停止" in page
    console.post(url, {"action": "type", "type": "number", "confirm": "on"})
    console.post(url, {"action": "label", "label": "會員等級"})
    attribute.refresh_from_db()
    assert (attribute.type, attribute.label) == ("number", "會員等級")
    assert attribute.type_changes.count() == 1
    console.post(url, {"action": "archive"})
    attribute.refresh_from_db()
    assert attribute.archived_at is not None


@pytest.mark.parametrize(
    "role, allowed",
    [
        ("agent", {"view"}),
        ("cs_manager", {"view", "edit"}),
        ("marketer", {"view", "edit", "import", "export"}),
        ("admin", {"view", "edit", "import", "export", "merge"}),
    ],
)
def test_role_permissions(client, team, line, role, allowed):
    client = client_for(client, team, role)
    contact = ContactFactory(channel=line)
    record = MergeRecord.objects.create(team=team, survivor=contact.customer, absorbed=contact.customer)
    checks = {
        "view": lambda: client.get(reverse("cdp:customer", args=[contact.customer_id])),
        "edit": lambda: client.post(reverse("cdp:contact-unsubscribe", args=[contact.pk]), {"scope": "web_push"}),
        "import": lambda: client.get(reverse("cdp:import")),
        "export": lambda: client.get(reverse("cdp:export")),
        "merge": lambda: client.post(reverse("cdp:unmerge", args=[record.pk])),
    }
    for name, call in checks.items():
        status = call().status_code
        assert (status != 403) == (name in allowed), (role, name, status)


def test_tag_messages_and_rename_clash_on_its_row(console, team):
    response = console.post(reverse("cdp:tag-create"), {"name": "新客"}, follow=True)
    assert "已新增標籤「新客」。" in [str(m) for m in response.context["messages"]]
    tag = Tag.objects.get(team=team, name="新客")
    TagFactory(team=team, name="VIP")

    # A clash on rename: 400, the error and the rejected name on that row; the create form is a fresh one.
    response = console.post(reverse("cdp:tag-rename", args=[tag.pk]), {"name": "VIP"})
    assert response.status_code == 400
    assert response.context["rename_form"].errors["name"] == ["已經有名為「VIP」的標籤。"]
    assert not response.context["form"].is_bound
    html = response.content.decode()
    assert f'id="tag-{tag.pk}-error"' in html and f'id="tag-{tag.pk}" type="text" name="name" value="VIP"' in html

    console.cookies["django_language"] = "en"
    response = console.post(reverse("cdp:tag-rename", args=[tag.pk]), {"name": "首購客"}, follow=True)
    assert "Tag renamed to “首購客”." in [str(m) for m in response.context["messages"]]
    response = console.post(reverse("cdp:tag-create"), {"name": "回購客"}, follow=True)
    assert "Tag “回購客” added." in [str(m) for m in response.context["messages"]]


def test_list_in_english(console, team, line):
    ContactFactory(channel=line)
    console.cookies["django_language"] = "en"
    html = console.get(reverse("cdp:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Contact quota usage" in html and "View details" in html


def test_total_previous_and_next_pages(console, team, line, monkeypatch):
    """Issue 20.16: the list says how many customers match (an estimate label above the limit) and walks back."""
    import re

    from cdp import filters

    monkeypatch.setattr(
        "cdp.views.keyset_page", lambda qs, cursor, sort: filters.keyset_page(qs, cursor, size=3, sort=sort)
    )
    now = timezone.now()
    for i in range(7):
        contact = ContactFactory(channel=line, display_name=f"c{i}")
        Customer.objects.filter(pk=contact.customer_id).update(created_at=now - timedelta(minutes=i))
    first = console.get(reverse("cdp:index"), HTTP_ACCEPT_LANGUAGE="zh-hant").content.decode()
    assert "共 7 位顧客" in first and 'data-testid="previous-page"' not in first

    def follow(html, testid):
        href = re.search(rf'data-testid="{testid}" href="\?([^"]+)"', html).group(1).replace("&amp;", "&")
        return console.get(f"{reverse('cdp:index')}?{href}").content.decode()

    second = follow(first, "next-page")
    third = follow(second, "next-page")
    assert names(console.get(reverse("cdp:index")))[:1] == ["c0"]
    back = follow(third, "previous-page")
    assert 'data-testid="previous-page"' in back
    back_again = follow(back, "previous-page")
    assert "c0" in back_again and 'data-testid="previous-page"' not in back_again

    monkeypatch.setattr("cdp.views.count_up_to", lambda qs: filters.count_up_to(qs, 5))
    capped = console.get(reverse("cdp:index"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "More than 5 customers (estimate)" in capped
