"""CSV export: the filtered customers' contacts, one column per channel id, chosen fields, UTF-8 with BOM."""

import csv
import io

import pytest
from django.urls import reverse

from cdp.models import Customer
from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerTagFactory, TagFactory
from core.csv_lines import safe_cell
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def read(response):
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(c if isinstance(c, bytes) else c.encode() for c in response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(body[1:])))


def test_export_filtered_contacts_with_channel_ids(console, team, other_team):
    line = ChannelFactory(team=team, kind="line")
    fb = ChannelFactory(team=team, kind="facebook")
    ig = ChannelFactory(team=team, kind="instagram")
    wa = ChannelFactory(team=team, kind="whatsapp")
    vip = TagFactory(team=team, name="VIP")
    a = ContactFactory(channel=line, external_id="U" + "1" * 32)
    ContactFactory(channel=fb, customer=a.customer, external_id="PSID1")
    ContactFactory(channel=ig, customer=a.customer, external_id="IGSID1")
    ContactFactory(channel=wa, customer=a.customer, external_id="+886912345678", phone="+886912345678")
    Customer.objects.filter(pk=a.customer_id).update(member_id="M1", name="王小明")
    CustomerTagFactory(customer=a.customer, tag=vip)
    ContactFactory(channel=line, external_id="U" + "2" * 32)  # not tagged: filtered out
    ContactFactory(channel=ChannelFactory(team=other_team, kind="line"), external_id="U" + "3" * 32)

    rows = read(console.get(reverse("cdp:export"), {"tag": vip.pk, "fields": ["member_id", "name", "tags", "status"]}))
    assert len(rows) == 4
    by_kind = {r["渠道"]: r for r in rows}
    assert by_kind["line"]["LINE UID"] == "U" + "1" * 32
    assert by_kind["facebook"]["Facebook PSID"] == "PSID1" and by_kind["facebook"]["LINE UID"] == ""
    assert by_kind["instagram"]["Instagram IGSID"] == "IGSID1"
    assert by_kind["whatsapp"]["WhatsApp 電話號碼"] == "+886912345678"
    assert {r["會員編號"] for r in rows} == {"M1"} and {r["標籤"] for r in rows} == {"VIP"}
    assert {r["訂閱狀態"] for r in rows} == {"訂閱中"}
    assert "Email" not in rows[0]

    everyone = read(console.get(reverse("cdp:export")))
    assert len(everyone) == 5  # this team's contacts only, default fields
    assert "U" + "3" * 32 not in str(everyone)


def test_export_needs_permission_and_valid_filters(client, console, team):
    assert console.get(reverse("cdp:export"), {"channel": "999999"}).status_code == 400
    client.force_login(MembershipFactory(team=team, role="agent").user)
    assert client.get(reverse("cdp:export")).status_code == 403


def test_cells_a_spreadsheet_would_run_are_defused(console, team):
    """A name a customer typed into a chat reaches the export; phone numbers and negative numbers stay numbers."""
    wa = ChannelFactory(team=team, kind="whatsapp")
    contact = ContactFactory(channel=wa, external_id="+886912345678", phone="+886912345678")
    Customer.objects.filter(pk=contact.customer_id).update(name='=HYPERLINK("http://evil.example","點我")')
    [row] = read(console.get(reverse("cdp:export"), {"fields": ["name", "points_balance"]}))
    assert row["姓名"] == '\'=HYPERLINK("http://evil.example","點我")'
    assert row["WhatsApp 電話號碼"] == "+886912345678"
    long_number_then_text = "-" + "1" * 32000 + "x"  # linear to check (a nested repetition took 11 s)
    assert safe_cell(long_number_then_text) == "'" + long_number_then_text and safe_cell("-") == "'-"
    assert [safe_cell(v) for v in ["@SUM(A1)", "+1+cmd|' /C calc'!A0", "-3.5", "+886 912-345-678", "a=b", 7]] == [
        "'@SUM(A1)",
        "'+1+cmd|' /C calc'!A0",
        "-3.5",
        "+886 912-345-678",
        "a=b",
        7,
    ]
