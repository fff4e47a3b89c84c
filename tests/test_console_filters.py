"""The console's one set of number and label filters (issue 20.13, 20.14)."""

from decimal import Decimal

from django.utils import translation

from accounts.templatetags.console import money, multiple, paren, pct, reason_label, thousands, unit_cost


def test_numbers_read_the_same_in_both_languages():
    for language in ("zh-hant", "en"):
        with translation.override(language):
            assert thousands(5000) == "5,000" and thousands(20000) == "20,000"
            assert money(Decimal("62927.00"), "TWD") == "NT$62,927"
            assert money(Decimal("13.6"), "TWD") == "NT$13.60"
            assert money(Decimal("-1234.5"), "HKD") == "-HKD 1,234.50"
            assert unit_cost(Decimal("0.2000"), "TWD") == "NT$0.2"
            assert unit_cost(Decimal("0.5"), "HKD") == "HKD 0.5"
            assert pct(0.7143) == "71.4%" and multiple(Decimal("3.456")) == "3.46×" and multiple(450) == "450×"
            assert money(None, "TWD") == "—" and unit_cost("x") == "—"


def test_labels_follow_the_language():
    with translation.override("en"):
        assert paren("cumulative") == " (cumulative)"
        assert reason_label("budget_exhausted") == "Channel message budget used up"
        assert reason_label("something_new") == "something_new"
    with translation.override("zh-hant"):
        assert paren("累計") == "（累計）"
        assert reason_label("budget_exhausted") == "渠道訊息額度已用完"


def test_stored_text_translates_stored_messages_with_their_parameters():
    """Issue 20.14: one filter for messages stored in the source language (import row errors)."""
    from django.utils import translation

    from accounts.templatetags.console import stored_text

    with translation.override("en"):
        assert stored_text("不是有效的 Email：a@b") == "Not a valid email: a@b"
        assert (
            stored_text("與第 12 列為同一聯絡人：依檔案順序更新。") == "Same contact as row 12: updated in file order."
        )
        assert stored_text("必填。") == "Required."
        assert stored_text("顧客自己寫的字") == "顧客自己寫的字"  # not a message: as it is
        assert stored_text("") == "" and stored_text(None) is None
    with translation.override("zh-hant"):
        assert stored_text("不是有效的 Email：a@b") == "不是有效的 Email：a@b"
