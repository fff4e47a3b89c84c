"""One DRF serializer per chatbot module type: what each module's content JSON must hold (issue 22.13).

``SERIALIZERS[module_type]`` validates a module's content; ``content_errors`` runs it and returns the errors keyed
by the JSON path of the wrong field ("content.cards[0].image_url"), the keys the console form and the API show.
The content is stored as given: these serializers only check it (renderers read the stored JSON).
"""

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers
from rest_framework.fields import empty

from .models import ModuleType

URL = _("請輸入 http(s) 網址。")
IMAGE_URL = _("請輸入圖片網址。")
REQUIRED = _("此欄位必填。")
INTEGER = _("請輸入整數。")
TEXT = _("請輸入文字。")


def _all(message):
    """The same message for every way a field can be missing or malformed."""
    keys = ("required", "blank", "null", "invalid", "not_a_list", "empty", "min_length", "max_length", "min_value")
    return dict.fromkeys(keys, message)


class HttpUrlField(serializers.CharField):
    """A URL starting with http:// or https:// (as typed: no trimming, no stricter URL grammar)."""

    def __init__(self, message, **kwargs):
        super().__init__(error_messages=_all(message), trim_whitespace=False, **kwargs)
        self.message = message

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not value.startswith(("https://", "http://")):
            raise serializers.ValidationError(self.message)
        return value


class _Object(serializers.Serializer):
    """A JSON object; anything else is reported on ``not_object_field`` (as the console form shows it). Keys in
    ``optional_objects`` that are empty / falsy count as absent."""

    not_object_field = ""
    not_object_message = ""
    optional_objects = ()

    def run_validation(self, data=empty):
        if data is not empty and not isinstance(data, dict):  # None included
            raise serializers.ValidationError({self.not_object_field: [self.not_object_message]})
        if isinstance(data, dict):
            data = {key: value for key, value in data.items() if key not in self.optional_objects or value}
        return super().run_validation(data)


class ButtonSerializer(_Object):
    """A link button ({"label", "url"}) or a postback button ({"label", "data"})."""

    not_object_field, not_object_message = "label", _("按鈕需要文字。")

    label = serializers.CharField(error_messages=_all(_("按鈕需要文字。")))
    url = HttpUrlField(URL, required=False)
    data = serializers.CharField(required=False, allow_blank=True, allow_null=True, error_messages=_all(TEXT))

    def validate(self, attrs):
        if "url" not in attrs and not (attrs.get("data") or "").strip():
            raise serializers.ValidationError({"url": [_("按鈕需要網址或回傳資料。")]})
        return attrs


class TextButtonsSerializer(serializers.Serializer):
    text = serializers.CharField(error_messages=_all(TEXT))
    buttons = serializers.ListField(
        child=ButtonSerializer(), min_length=1, max_length=4, error_messages=_all(_("需要 1 到 4 個按鈕。"))
    )


class CarouselCardSerializer(_Object):
    not_object_field, not_object_message = "image_url", IMAGE_URL

    image_url = HttpUrlField(IMAGE_URL)
    title = serializers.CharField(error_messages=_all(_("請輸入標題。")))
    text = serializers.CharField(required=False, allow_blank=True, allow_null=True, error_messages=_all(TEXT))
    buttons = serializers.ListField(
        child=ButtonSerializer(), required=False, allow_null=True, error_messages=_all(_("按鈕必須是清單。"))
    )


class ImageCardSerializer(_Object):
    not_object_field, not_object_message = "image_url", IMAGE_URL
    optional_objects = ("button",)

    image_url = HttpUrlField(IMAGE_URL)
    button = ButtonSerializer(required=False)


CARDS = _all(_("需要 1 到 10 張卡片。"))


class CarouselSerializer(serializers.Serializer):
    cards = serializers.ListField(child=CarouselCardSerializer(), min_length=1, max_length=10, error_messages=CARDS)


class ImageCarouselSerializer(serializers.Serializer):
    cards = serializers.ListField(child=ImageCardSerializer(), min_length=1, max_length=10, error_messages=CARDS)


class AreaSerializer(_Object):
    not_object_field, not_object_message = "url", URL

    url = HttpUrlField(URL)
    x = serializers.IntegerField(required=False, min_value=0, error_messages=_all(INTEGER))
    y = serializers.IntegerField(required=False, min_value=0, error_messages=_all(INTEGER))
    width = serializers.IntegerField(required=False, min_value=0, error_messages=_all(INTEGER))
    height = serializers.IntegerField(required=False, min_value=0, error_messages=_all(INTEGER))


class ImageMapSerializer(serializers.Serializer):
    image_url = HttpUrlField(IMAGE_URL)
    alt_text = serializers.CharField(required=False, allow_blank=True, allow_null=True, error_messages=_all(TEXT))
    width = serializers.IntegerField(required=False, allow_null=True, min_value=1, error_messages=_all(INTEGER))
    height = serializers.IntegerField(required=False, allow_null=True, min_value=1, error_messages=_all(INTEGER))
    areas = serializers.ListField(
        child=AreaSerializer(), min_length=1, error_messages=_all(_("至少需要一個點擊區域。"))
    )


class CouponCardSerializer(_Object):
    optional_objects = ("image_url", "button")

    title = serializers.CharField(error_messages=_all(REQUIRED))
    code = serializers.CharField(error_messages=_all(REQUIRED))
    text = serializers.CharField(required=False, allow_blank=True, allow_null=True, error_messages=_all(TEXT))
    image_url = HttpUrlField(IMAGE_URL, required=False)
    button = ButtonSerializer(required=False)
    # A card of a coupons campaign (kept by coupons.services): its claim button opens the campaign's claim page
    # for the receiving contact (messaging.services.content renders the per-contact link).
    campaign = serializers.IntegerField(required=False, min_value=1, error_messages=_all(INTEGER))
    claim_label = serializers.CharField(required=False, allow_blank=True, max_length=20, error_messages=_all(TEXT))

    def run_validation(self, data=empty):
        # A campaign's card shows no code (the claim page assigns one): the code is needed only without one.
        self.fields["code"].required = not (isinstance(data, dict) and data.get("campaign"))
        return super().run_validation(data)


class OmniLinkCardSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField(min_value=1, error_messages=_all(INTEGER))
    image_url = HttpUrlField(IMAGE_URL)
    title = serializers.CharField(error_messages=_all(REQUIRED))
    text = serializers.CharField(required=False, allow_blank=True, allow_null=True, error_messages=_all(TEXT))
    button_label = serializers.CharField(max_length=20, error_messages=_all(_("按鈕文字最多 20 字。")))


SERIALIZERS = {
    ModuleType.TEXT_BUTTONS: TextButtonsSerializer,
    ModuleType.CAROUSEL: CarouselSerializer,
    ModuleType.IMAGE_CAROUSEL: ImageCarouselSerializer,
    ModuleType.IMAGE_MAP: ImageMapSerializer,
    ModuleType.COUPON_CARD: CouponCardSerializer,
    ModuleType.OMNILINK_CARD: OmniLinkCardSerializer,
}


def content_errors(module_type, content):
    """{JSON path: [messages]} of what is wrong with a module's content; {} when it is valid."""
    if not isinstance(content, dict):
        return {"content": [str(_("內容必須是 JSON 物件。"))]}
    serializer_class = SERIALIZERS.get(module_type)
    if serializer_class is None:
        return {"type": [str(_("未知的模組類型。"))]}
    serializer = serializer_class(data=content)
    if serializer.is_valid():
        return {}
    out = {}
    _flatten(serializer.errors, "content", out)
    return out


def _flatten(errors, path, out):
    """DRF's nested errors ({"cards": {0: {"image_url": [...]}}}, lists of dicts) → {"content.cards[0].image_url":
    [...]}."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key == "non_field_errors":
                _flatten(value, path, out)
            elif isinstance(key, int):
                _flatten(value, f"{path}[{key}]", out)
            else:
                _flatten(value, f"{path}.{key}", out)
    elif isinstance(errors, list) and all(isinstance(error, str) for error in errors):
        out.setdefault(path, []).extend(str(error) for error in errors)
    elif isinstance(errors, list):
        for index, error in enumerate(errors):
            if error:
                _flatten(error, f"{path}[{index}]", out)
