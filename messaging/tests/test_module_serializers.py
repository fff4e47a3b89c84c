"""Issue 22.13: one DRF serializer per chatbot module type (messaging.module_serializers) instead of one long
validation function; validate_module_content keeps its name, its error keys (JSON paths) and its messages."""

import pytest
from django.core.exceptions import ValidationError

from messaging.models import ModuleType
from messaging.module_serializers import SERIALIZERS
from messaging.services.content import validate_module_content

BUTTON = {"label": "看看", "url": "https://shop.example.com"}
VALID = {
    ModuleType.TEXT_BUTTONS: {"text": "hi", "buttons": [BUTTON, {"label": "回覆", "data": "yes"}]},
    ModuleType.CAROUSEL: {"cards": [{"image_url": "https://i.tw/1.png", "title": "A", "buttons": [BUTTON]}]},
    ModuleType.IMAGE_CAROUSEL: {
        "cards": [{"image_url": "https://i.tw/1.png", "button": BUTTON}, {"image_url": "http://i.tw/2"}]
    },
    ModuleType.IMAGE_MAP: {
        "image_url": "https://i.tw/m.png",
        "areas": [{"x": 0, "y": 0, "width": 10, "height": 10, "url": "https://a.tw"}],
    },
    ModuleType.COUPON_CARD: {"title": "九折", "code": "SAVE10", "image_url": "", "button": {}},
}


def errors(module_type, content):
    try:
        validate_module_content(module_type, content)
    except ValidationError as exc:
        return exc.message_dict
    return {}


def test_every_type_has_its_serializer_and_accepts_valid_content():
    assert set(SERIALIZERS) == set(ModuleType.values)
    for module_type, content in VALID.items():
        assert errors(module_type, content) == {}, module_type


@pytest.mark.parametrize(
    ("module_type", "content", "expected"),
    [
        (
            "text_buttons",
            {"text": " ", "buttons": []},
            {"content.text": ["請輸入文字。"], "content.buttons": ["需要 1 到 4 個按鈕。"]},
        ),
        ("text_buttons", {"text": "a", "buttons": [BUTTON] * 5}, {"content.buttons": ["需要 1 到 4 個按鈕。"]}),
        ("text_buttons", {"text": "a", "buttons": ["x"]}, {"content.buttons[0].label": ["按鈕需要文字。"]}),
        (
            "text_buttons",
            {"text": "a", "buttons": [{"label": "a", "url": "ftp://x"}]},
            {"content.buttons[0].url": ["請輸入 http(s) 網址。"]},
        ),
        (
            "text_buttons",
            {"text": "a", "buttons": [{"label": "a"}]},
            {"content.buttons[0].url": ["按鈕需要網址或回傳資料。"]},
        ),
        (
            "carousel",
            {"cards": [{"image_url": "x", "title": "A"}]},
            {"content.cards[0].image_url": ["請輸入圖片網址。"]},
        ),
        (
            "carousel",
            {"cards": [{"image_url": "https://i.tw", "title": ""}]},
            {"content.cards[0].title": ["請輸入標題。"]},
        ),
        ("image_carousel", {"cards": [None]}, {"content.cards[0].image_url": ["請輸入圖片網址。"]}),
        ("image_map", {"image_url": "https://i.tw", "areas": []}, {"content.areas": ["至少需要一個點擊區域。"]}),
        (
            "coupon_card",
            {"title": "", "image_url": "x"},
            {
                "content.title": ["此欄位必填。"],
                "content.code": ["此欄位必填。"],
                "content.image_url": ["請輸入圖片網址。"],
            },
        ),
        ("nonsense", {}, {"type": ["未知的模組類型。"]}),
        ("coupon_card", [], {"content": ["內容必須是 JSON 物件。"]}),
    ],
)
def test_error_keys_and_messages(module_type, content, expected):
    assert errors(module_type, content) == expected


def test_malformed_values_are_refused_instead_of_breaking_the_send():
    """Accepted before, then a 500 when validated (a string of buttons) or at render time (int("left"))."""
    assert errors("image_map", {"image_url": "https://i.tw", "areas": [{"url": "https://a.tw", "x": "left"}]}) == {
        "content.areas[0].x": ["請輸入整數。"]
    }
    card = {"image_url": "https://i.tw", "title": "A", "buttons": 5}
    assert errors("carousel", {"cards": [card]}) == {"content.cards[0].buttons": ["按鈕必須是清單。"]}
    assert errors("coupon_card", {"title": ["not", "text"], "code": "X"}) == {"content.title": ["此欄位必填。"]}
