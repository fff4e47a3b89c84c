"""The customer console in a real browser: list, search, filters, the 360° page, an unsubscribe; both languages."""

import io
import re

import pytest
from django.core.management import call_command

from accounts.models import Team
from cdp.models import Contact, Customer, Tag
from tests.browser.conftest import browser, page, screenshot  # noqa: F401  (fixtures)
from tests.factories import MembershipFactory, TeamFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def login(tab, live_server, user):
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.fill("input[name=username]", user.username)
    tab.fill("input[name=password]", "pw-for-tests-123")
    with tab.expect_navigation():
        tab.click("form.stack button[type=submit]")


def switch_language(tab, code):
    with tab.expect_navigation():
        tab.locator(f"form.language-switch button[data-lang='{code}']").first.click()


def test_customer_console(live_server, page, screenshot):  # noqa: F811
    call_command("seed_demo", team="browser-demo", contacts=240, seed=3, stdout=io.StringIO())

    team = Team.objects.get(slug="browser-demo")
    user = MembershipFactory(team=team, role="owner").user
    login(page, live_server, user)

    page.goto(f"{live_server.url}/customers/")
    assert page.get_by_test_id("quota-used").inner_text() == "240"
    rows = page.get_by_test_id("customer-row")
    assert rows.count() == 50
    screenshot("customers-list-zh-hant")

    # Search for a member id: the list is swapped in place by HTMX (no navigation).
    member = Customer.objects.filter(team=team, member_id__isnull=False).order_by("pk").first()
    page.fill("input[name=q]", member.member_id)
    page.wait_for_function("document.querySelectorAll('[data-testid=customer-row]').length === 1")
    assert member.member_id in rows.first.inner_text()
    assert "q=" in page.url

    # Clear the search, filter by a tag and a channel.
    page.fill("input[name=q]", "")
    page.wait_for_function("document.querySelectorAll('[data-testid=customer-row]').length === 50")
    vip = Tag.objects.get(team=team, name="VIP")
    expected = Customer.objects.filter(team=team, merged_into=None, customer_tags__tag=vip).count()
    page.select_option("select[name=tag]", str(vip.pk))
    page.wait_for_function(f"document.querySelectorAll('[data-testid=customer-row]').length === {min(expected, 50)}")
    page.select_option("select[name=bound]", "yes")
    page.wait_for_url(re.compile(r"bound=yes"))
    screenshot("customers-filtered-zh-hant")
    page.select_option("select[name=tag]", "")
    page.select_option("select[name=bound]", "")

    # Open the 360° page of a customer with a LINE contact and several channels.
    contact = (
        Contact.objects.filter(team=team, channel__kind="line", status="subscribed", customer__is_bound=True)
        .order_by("pk")
        .first()
    )
    page.goto(f"{live_server.url}/customers/{contact.customer_id}/")
    assert page.get_by_test_id("customer-name").inner_text() == str(contact.customer)
    assert "基本資料" in page.get_by_test_id("basic-data").inner_text()
    card = page.locator(f"#contact-{contact.pk}")
    assert "訂閱中" in card.get_by_test_id("contact-status").inner_text()
    screenshot("customer-360-zh-hant")

    # Unsubscribe the broadcast scope (confirm dialog), swapped in place.
    page.once("dialog", lambda dialog: dialog.accept())
    card.get_by_test_id("scope-broadcast").click()
    page.locator(f"#contact-{contact.pk} [data-testid=contact-status]", has_text="已取消訂閱").wait_for()
    contact.refresh_from_db()
    assert contact.unsubscribed_broadcast and contact.status == "unsubscribed"
    assert page.locator(f"#contact-{contact.pk} [data-testid=scope-broadcast]").inner_text() == "恢復訂閱"

    # The points ledger card: adjust by hand, swapped in place.
    customer = contact.customer
    customer.refresh_from_db()
    points_card = page.get_by_test_id("points-card")
    points_card.locator("input[name=delta]").fill("120")
    points_card.locator("input[name=reason]").fill("門市活動")
    points_card.get_by_role("button", name="調整點數").click()
    page.get_by_test_id("points-card").get_by_text("門市活動").wait_for()
    assert page.get_by_test_id("points-balance").inner_text() == f"{customer.points_balance + 120:,}"
    page.get_by_test_id("points-card").scroll_into_view_if_needed()
    screenshot("customer-360-points-zh-hant")

    # English.
    switch_language(page, "en")
    assert "Profile" in page.get_by_test_id("basic-data").inner_text()
    assert "Points history" in page.get_by_test_id("points-card").inner_text()
    assert "Unsubscribed" in page.locator(f"#contact-{contact.pk}").inner_text()
    screenshot("customer-360-en")
    page.goto(f"{live_server.url}/customers/")
    assert "Contact quota usage" in page.get_by_test_id("quota").inner_text()
    screenshot("customers-list-en")


def test_csv_import_flow(live_server, page, screenshot, tmp_path):  # noqa: F811
    from cdp.tests.factories import ChannelFactory

    team = TeamFactory(slug="browser-import", name="匯入測試品牌")
    channel = ChannelFactory(team=team, kind="line", name="LINE 官方帳號")
    user = MembershipFactory(team=team, role="marketer").user
    login(page, live_server, user)
    csv_file = tmp_path / "名單.csv"
    uid = "U" + "a" * 32
    csv_file.write_text(f'\ufeffLINE UID,姓名,標籤\n{uid},王小明,"VIP,新客"\nbad-uid,錯誤列,VIP\n', encoding="utf-8")

    page.goto(f"{live_server.url}/customers/import/")
    page.set_input_files("input[name=file]", str(csv_file))
    page.select_option("select[name=channel]", str(channel.pk))
    with page.expect_navigation():
        page.click("button[type=submit].btn-primary")
    table = page.get_by_test_id("mapping-table")
    assert "王小明" in table.inner_text()
    assert page.locator("select[name=col_0]").input_value() == "key"
    screenshot("import-mapping-zh-hant")
    with page.expect_navigation():
        page.get_by_test_id("import-run").click()
    assert page.get_by_test_id("applied-rows").inner_text() == "1"
    assert page.get_by_test_id("error-rows").inner_text() == "1"
    assert "不是有效的 LINE UID" in page.get_by_test_id("import-progress").inner_text()
    screenshot("import-done-zh-hant")
    assert Contact.objects.filter(team=team, external_id=uid, source="import").exists()


def test_tag_management(live_server, page, screenshot):  # noqa: F811
    from cdp.tests.factories import CustomerTagFactory

    team = TeamFactory(slug="browser-tags", name="標籤測試品牌")
    CustomerTagFactory(team=team, customer__team=team, tag=Tag.objects.create(team=team, name="既有標籤"))
    other_team_tag = Tag.objects.create(team=TeamFactory(slug="browser-tags-other"), name="別隊標籤")
    user = MembershipFactory(team=team, role="marketer").user
    login(page, live_server, user)

    page.goto(f"{live_server.url}/customers/tags/")
    rows = page.get_by_test_id("tag-row")
    assert rows.count() == 1
    assert other_team_tag.name not in page.get_by_test_id("tag-table").inner_text()

    # Create (a plain form post, then the redirect back to the list).
    create_form = page.get_by_test_id("tag-create-form")
    create_form.locator("input[name=name]").fill("  週年慶  ")
    with page.expect_navigation():
        create_form.locator("button[type=submit]").click()
    assert page.url == f"{live_server.url}/customers/tags/"
    assert "已新增標籤「週年慶」" in page.locator(".flash-list").inner_text()
    tag = Tag.objects.get(team=team, name="週年慶")
    row = rows.filter(has=page.locator(f"#tag-{tag.pk}"))
    assert row.locator(f"#tag-{tag.pk}").input_value() == "週年慶"
    assert "使用中" in row.get_by_test_id("tag-status").inner_text()
    assert rows.count() == 2
    # The two cards of the grid line up (no `.card + .card` top margin inside a grid).
    tops = page.locator(".grid-2 > .card").evaluate_all("cards => cards.map(card => card.getBoundingClientRect().top)")
    assert len(tops) == 2 and tops[0] == tops[1]
    screenshot("tags-created-zh-hant")

    # Rename in place.
    row.locator(f"#tag-{tag.pk}").fill("週年慶 2025")
    with page.expect_navigation():
        row.get_by_test_id("tag-rename").click()
    tag.refresh_from_db()
    assert tag.name == "週年慶 2025"
    assert page.locator(f"#tag-{tag.pk}").input_value() == "週年慶 2025"
    assert "標籤已重新命名為「週年慶 2025」" in page.locator(".flash-list").inner_text()
    assert not Tag.objects.filter(team=team, name="週年慶").exists()

    # Renaming to a name the team already uses is refused on the renamed row (in red, keeping the rejected
    # name there); the create box stays empty and shows no error; nothing changes.
    page.locator(f"#tag-{tag.pk}").fill("既有標籤")
    with page.expect_navigation() as refused:
        rows.filter(has=page.locator(f"#tag-{tag.pk}")).get_by_test_id("tag-rename").click()
    assert refused.value.status == 400
    renamed = rows.filter(has=page.locator(f"#tag-{tag.pk}"))
    error = renamed.get_by_test_id("tag-rename-error")
    assert "已經有名為「既有標籤」的標籤" in error.inner_text()
    assert error.evaluate("el => getComputedStyle(el).color") == "rgb(214, 69, 69)"  # --danger
    assert page.locator(f"#tag-{tag.pk}").input_value() == "既有標籤"
    assert page.locator(".field-error").count() == 1
    assert create_form.locator(".field-error").count() == 0
    assert create_form.locator("input[name=name]").input_value() == ""
    tag.refresh_from_db()
    assert tag.name == "週年慶 2025"
    screenshot("tags-rename-clash-zh-hant")

    # Creating a name the team already uses is refused in the create box, in red (not `.field > span` grey).
    create_form.locator("input[name=name]").fill("既有標籤")
    with page.expect_navigation() as refused:
        create_form.locator("button[type=submit]").click()
    assert refused.value.status == 400
    error = create_form.locator(".field-error")
    assert "已經有名為「既有標籤」的標籤" in error.inner_text()
    assert error.evaluate("el => getComputedStyle(el).color") == "rgb(214, 69, 69)"  # --danger
    assert create_form.locator("input[name=name]").input_value() == "既有標籤"
    assert page.get_by_test_id("tag-rename-error").count() == 0
    assert page.locator(f"#tag-{tag.pk}").input_value() == "週年慶 2025"
    screenshot("tags-create-clash-zh-hant")

    # Archive (confirm dialog): the row turns into a plain label with the archived pill.
    page.goto(f"{live_server.url}/customers/tags/")
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        rows.filter(has=page.locator(f"#tag-{tag.pk}")).get_by_test_id("tag-archive").click()
    assert "確定封存" in dialogs[0]
    assert "標籤已封存" in page.locator(".flash-list").inner_text()
    archived = rows.filter(has_text="週年慶 2025")
    assert "已封存" in archived.get_by_test_id("tag-status").inner_text()
    assert archived.get_by_test_id("tag-rename").count() == 0
    assert archived.get_by_test_id("tag-archive").count() == 0
    assert page.locator(f"#tag-{tag.pk}").count() == 0
    tag.refresh_from_db()
    assert tag.archived_at is not None
    screenshot("tags-archived-zh-hant")


# The type-change warning sits in a nowrap actions cell: its text must wrap within the 320px box, not run past it.
WRAPS_INSIDE_ITS_BOX = "el => el.scrollWidth <= el.clientWidth && el.getBoundingClientRect().width <= 320"


def test_custom_attribute_type_change(live_server, page, screenshot):  # noqa: F811
    from cdp.models import AttributeTypeChange, AttributeValue, CustomAttribute
    from cdp.services.attributes import set_attributes
    from cdp.tests.factories import CustomerFactory

    team = TeamFactory(slug="browser-attrs", name="屬性測試品牌")
    user = MembershipFactory(team=team, role="marketer").user
    login(page, live_server, user)

    page.goto(f"{live_server.url}/customers/attributes/")
    assert "尚未定義自訂屬性" in page.get_by_test_id("attribute-table").inner_text()
    form = page.get_by_test_id("attribute-create-form")
    form.locator("input[name=key]").fill("vip_level")
    form.locator("input[name=label]").fill("會員等級")
    form.locator("select[name=type]").select_option("text")
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    assert "已新增自訂屬性 vip_level" in page.locator(".flash-list").inner_text()
    attribute = CustomAttribute.objects.get(team=team, key="vip_level")
    assert (attribute.label, attribute.type) == ("會員等級", "text")
    row = page.get_by_test_id("attribute-row").filter(has_text="vip_level")
    assert row.get_by_test_id("attribute-type").inner_text().strip() == "文字"
    assert page.locator(f"#label-{attribute.pk}").input_value() == "會員等級"
    screenshot("attributes-created-zh-hant")

    # A value that the type change will clear.
    customer = CustomerFactory(team=team)
    set_attributes(customer=customer, values={"vip_level": "gold"}, source="test")

    # The warning only shows once "變更類型" is opened; the confirmation checkbox is required.
    warning = row.get_by_test_id("attribute-type-warning")
    assert not warning.is_visible()
    row.get_by_test_id("attribute-type-toggle").click()
    warning.wait_for(state="visible")
    assert "顧客旅程將會停止" in warning.inner_text()
    assert warning.evaluate(WRAPS_INSIDE_ITS_BOX)
    row.locator("select[name=type]").select_option("number")
    row.get_by_test_id("attribute-type-submit").click()  # blocked by the browser: the box is not ticked
    assert row.locator("input[name=confirm]").evaluate("el => el.validity.valueMissing")
    assert page.url == f"{live_server.url}/customers/attributes/"
    assert not AttributeTypeChange.objects.filter(attribute=attribute).exists()
    screenshot("attributes-type-warning-zh-hant")

    row.locator("input[name=confirm]").check()
    with page.expect_navigation():
        row.get_by_test_id("attribute-type-submit").click()
    flash = page.locator(".flash-list").inner_text()
    assert "vip_level 的類型已變更" in flash
    row = page.get_by_test_id("attribute-row").filter(has_text="vip_level")
    assert "數字" in row.get_by_test_id("attribute-type").inner_text()
    assert "變更過 1 次" in row.get_by_test_id("attribute-type").inner_text()
    attribute.refresh_from_db()
    assert attribute.type == "number"
    change = AttributeTypeChange.objects.get(attribute=attribute)
    assert (change.team_id, change.old_type, change.new_type) == (team.pk, "text", "number")
    assert not AttributeValue.objects.filter(attribute=attribute).exists()
    screenshot("attributes-type-changed-zh-hant")

    # English: the longer warning wraps inside its box too.
    switch_language(page, "en")
    row = page.get_by_test_id("attribute-row").filter(has_text="vip_level")
    row.get_by_test_id("attribute-type-toggle").click()
    warning = row.get_by_test_id("attribute-type-warning")
    warning.wait_for(state="visible")
    assert "journeys using this attribute will stop" in warning.inner_text()
    assert warning.evaluate(WRAPS_INSIDE_ITS_BOX)
    screenshot("attributes-type-warning-en")


def test_unmerge_from_customer_page(live_server, page, screenshot):  # noqa: F811
    from cdp.models import MergeRecord
    from cdp.services.identity import merge_customers
    from cdp.tests.factories import ChannelFactory, ContactFactory

    team = TeamFactory(slug="browser-unmerge", name="合併測試品牌")
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號")
    facebook = ChannelFactory(team=team, kind="facebook", name="Facebook 粉絲專頁")
    kept_contact = ContactFactory(channel=line, display_name="陳大文")
    gone_contact = ContactFactory(channel=facebook, display_name="大文 FB")
    survivor, absorbed = kept_contact.customer, gone_contact.customer
    survivor_name, absorbed_name = str(survivor), str(absorbed)
    record = merge_customers(survivor=survivor, absorbed=absorbed, evidence={"phone": "+886912345678"})
    user = MembershipFactory(team=team, role="admin").user
    login(page, live_server, user)

    # The absorbed customer's page redirects to the survivor's, which lists both contacts and the merge.
    page.goto(f"{live_server.url}/customers/{absorbed.pk}/")
    assert page.url == f"{live_server.url}/customers/{survivor.pk}/"
    assert "已合併到另一位顧客" in page.locator(".flash-list").inner_text()
    assert page.get_by_test_id("contact-card").count() == 2
    merge_row = page.locator("tr", has=page.get_by_test_id("unmerge"))
    assert f"{absorbed_name} → {survivor_name}" in merge_row.inner_text()
    assert "phone=+886912345678" in merge_row.inner_text()
    screenshot("customer-merged-zh-hant")

    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        page.get_by_test_id("unmerge").click()
    assert "確定要取消這次合併" in dialogs[0]
    assert page.url == f"{live_server.url}/customers/{survivor.pk}/"
    assert f"已取消合併，顧客 {absorbed_name} 已還原" in page.locator(".flash-list").inner_text()
    assert page.get_by_test_id("unmerge").count() == 0
    assert "已取消合併" in page.locator("tr", has_text=f"{absorbed_name} → {survivor_name}").inner_text()
    assert page.get_by_test_id("contact-card").count() == 1
    assert page.locator(f"#contact-{kept_contact.pk}").count() == 1
    screenshot("customer-unmerged-zh-hant")

    record.refresh_from_db()
    absorbed.refresh_from_db()
    gone_contact.refresh_from_db()
    assert record.unmerged_at is not None and record.unmerged_by == user.username
    assert absorbed.merged_into_id is None
    assert gone_contact.customer_id == absorbed.pk
    assert MergeRecord.objects.filter(team=team, unmerged_at=None).count() == 0

    # The restored customer has its own page again, with its contact back.
    page.goto(f"{live_server.url}/customers/{absorbed.pk}/")
    assert page.url == f"{live_server.url}/customers/{absorbed.pk}/"
    assert page.get_by_test_id("customer-name").inner_text() == absorbed_name
    assert page.locator(f"#contact-{gone_contact.pk}").count() == 1


def test_csv_export_download(live_server, page, screenshot):  # noqa: F811
    from cdp.tests.factories import ChannelFactory, ContactFactory, CustomerTagFactory

    team = TeamFactory(slug="browser-export", name="匯出測試品牌")
    line = ChannelFactory(team=team, kind="line", name="LINE 官方帳號")
    instagram = ChannelFactory(team=team, kind="instagram", name="IG 帳號")
    contacts = [ContactFactory(channel=line, display_name=f"顧客{i}") for i in range(3)]
    contacts.append(ContactFactory(channel=instagram, display_name="IG 顧客", external_id="IG-17841400000000001"))
    vip = Tag.objects.create(team=team, name="VIP")
    CustomerTagFactory(team=team, customer=contacts[0].customer, tag=vip)
    stranger = ContactFactory(channel=ChannelFactory(kind="line"), external_id="U-other-team-contact")
    user = MembershipFactory(team=team, role="marketer").user
    login(page, live_server, user)

    page.goto(f"{live_server.url}/customers/")
    page.get_by_test_id("export-open").click()
    dialog = page.locator("#export-dialog")
    dialog.wait_for(state="visible")
    assert "匯出目前篩選的聯絡人" in dialog.inner_text()
    screenshot("customers-export-dialog-zh-hant")
    assert dialog.locator("input[name=fields][value=name]").is_checked()  # a default field
    dialog.locator("input[name=fields][value=is_bound]").check()
    with page.expect_download() as info:
        page.get_by_test_id("export-submit").click()
    download = info.value
    assert download.suggested_filename == "contacts.csv"
    raw = open(download.path(), "rb").read()
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    header = text.splitlines()[0]
    assert "LINE UID" in header and "姓名" in header and "社群身份綁定" in header
    for contact in contacts:
        assert contact.external_id in text
    assert stranger.external_id not in text
    assert len(text.strip().splitlines()) == 1 + len(contacts)
    assert not dialog.is_visible()

    # The export carries the list's current filters: only the VIP customer's contact.
    page.select_option("select[name=tag]", str(vip.pk))
    page.wait_for_function("document.querySelectorAll('[data-testid=customer-row]').length === 1")
    page.get_by_test_id("export-open").click()
    with page.expect_download() as info:
        page.get_by_test_id("export-submit").click()
    text = open(info.value.path(), "rb").read().decode("utf-8-sig")
    assert contacts[0].external_id in text
    assert all(c.external_id not in text for c in contacts[1:])
