"""DRF serializers of the cdp API. Writes go through cdp.services; these validate shapes and render rows."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api_base import TeamRelatedField

from . import credentials as credential_keys
from .models import (
    AttributeType,
    Binding,
    BindingMethod,
    Channel,
    ChannelKind,
    Contact,
    CustomAttribute,
    Customer,
    CustomerEvent,
    MergeRecord,
    OmoAssignment,
    OmoKind,
    OmoMember,
    PointsTransaction,
    Tag,
)
from .services import channels as channel_service
from .services import omo
from .services.attributes import value_of
from .services.events_api import REJECTION_CODES


class ChannelSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=ChannelKind.choices)
    credentials = serializers.DictField(
        child=serializers.CharField(), write_only=True, required=False, help_text=credential_keys.describe()
    )
    webhook_url = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "kind",
            "name",
            "external_id",
            "status",
            "is_sandbox",
            "created_at",
            "webhook_url",
            "credentials",
        ]
        read_only_fields = ["id", "external_id", "status", "is_sandbox", "created_at", "webhook_url"]

    @extend_schema_field(serializers.URLField(allow_null=True, help_text="null for kinds without a webhook"))
    def get_webhook_url(self, obj):
        return channel_service.webhook_url(obj)


class ChannelUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    credentials = serializers.DictField(
        child=serializers.CharField(), required=False, help_text=credential_keys.describe()
    )


class ContactSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)
    channel = serializers.IntegerField(source="channel_id", read_only=True)

    class Meta:
        model = Contact
        fields = [
            "id",
            "channel",
            "external_id",
            "status",
            "source",
            "created_at",
            "customer",
            "display_name",
            "phone",
            "subscribed_at",
            "last_customer_interaction_at",
            "last_team_marketing_at",
            "last_team_interaction_at",
            "unsubscribed_broadcast",
            "unsubscribed_web_push",
            "unsubscribed_cart_remarketing",
            "is_over_quota",
        ]
        read_only_fields = fields


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "archived_at", "created_at"]
        read_only_fields = ["id", "archived_at", "created_at"]


class AttributeDefinitionSerializer(serializers.ModelSerializer):
    type = serializers.ChoiceField(choices=AttributeType.choices)

    class Meta:
        model = CustomAttribute
        fields = ["id", "key", "label", "type", "archived_at", "created_at"]
        read_only_fields = ["id", "archived_at", "created_at"]


class AttributeDefinitionUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(required=False, max_length=120)
    type = serializers.ChoiceField(choices=AttributeType.choices, required=False, help_text="Clears existing values.")


class CustomerSerializer(serializers.ModelSerializer):
    # Declared: DRF drops allow_blank from read-only model fields, and the schema would then refuse "".
    email = serializers.EmailField(read_only=True, allow_blank=True)
    first_bound_method = serializers.ChoiceField(choices=BindingMethod.choices, read_only=True, allow_blank=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "member_id",
            "phone",
            "email",
            "name",
            "is_bound",
            "first_bound_at",
            "first_bound_method",
            "is_member",
            "member_since",
            "last_customer_interaction_at",
            "last_team_marketing_at",
            "last_team_interaction_at",
            "last_checkout_at",
            "points_balance",
            "points_accumulated",
            "merged_into",
            "created_at",
        ]
        read_only_fields = fields


class CustomerTagOutSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="tag_id")
    name = serializers.CharField(source="tag.name")
    source = serializers.CharField()
    channel = serializers.IntegerField(source="channel_id", allow_null=True)
    applied_at = serializers.DateTimeField()


class BindingSerializer(serializers.ModelSerializer):
    class Meta:
        model = Binding
        fields = ["id", "contact", "method", "member_id", "phone", "email", "bound_at"]
        read_only_fields = fields


class MergeRecordSerializer(serializers.ModelSerializer):
    class Meta:
        model = MergeRecord
        fields = ["id", "survivor", "absorbed", "evidence", "merged_at", "unmerged_at", "unmerged_by"]
        read_only_fields = fields


class CustomerEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CustomerEvent
        fields = ["id", "type", "occurred_at", "contact", "channel", "data"]
        read_only_fields = fields


class CustomerDetailSerializer(CustomerSerializer):
    contacts = serializers.SerializerMethodField()
    tags = serializers.SerializerMethodField()
    attributes = serializers.SerializerMethodField()
    bindings = serializers.SerializerMethodField()
    merges = serializers.SerializerMethodField()

    class Meta(CustomerSerializer.Meta):
        fields = CustomerSerializer.Meta.fields + ["contacts", "tags", "attributes", "bindings", "merges"]
        read_only_fields = fields

    @extend_schema_field(ContactSerializer(many=True))
    def get_contacts(self, obj):
        return ContactSerializer(obj.contacts.order_by("created_at"), many=True).data

    @extend_schema_field(CustomerTagOutSerializer(many=True))
    def get_tags(self, obj):
        rows = obj.customer_tags.select_related("tag").order_by("tag__name")
        return CustomerTagOutSerializer(rows, many=True).data

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_attributes(self, obj):
        rows = obj.attribute_values.select_related("attribute").order_by("attribute__key")
        return {row.attribute.key: value_of(row) for row in rows}

    @extend_schema_field(BindingSerializer(many=True))
    def get_bindings(self, obj):
        return BindingSerializer(obj.bindings.order_by("bound_at"), many=True).data

    @extend_schema_field(MergeRecordSerializer(many=True))
    def get_merges(self, obj):
        from django.db.models import Q

        rows = MergeRecord.objects.filter(Q(survivor=obj) | Q(absorbed=obj), team_id=obj.team_id)
        return MergeRecordSerializer(rows.order_by("-merged_at"), many=True).data


class TagsInSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField(max_length=100), allow_empty=False)


class AttributesInSerializer(serializers.Serializer):
    attributes = serializers.DictField(help_text="{key: value}; null clears a value.")


class PointsInSerializer(serializers.Serializer):
    delta = serializers.IntegerField(
        help_text="Positive adds, negative deducts (never below zero unless the team allows negative balances)."
    )
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)
    idempotency_key = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        help_text="The same key again changes nothing and answers the first change (the `Idempotency-Key` header "
        "works too); stored as `api:<key>`. Reusing a key for a different change: 409 idempotency_conflict.",
    )


class PointsTransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = PointsTransaction
        fields = [
            "id",
            "customer",
            "delta",
            "balance_after",
            "reason",
            "source",
            "idempotency_key",
            "occurred_at",
            "created_at",
        ]


class PointsResultSerializer(CustomerDetailSerializer):
    """The customer after the change, and the ledger row (`replayed`: the key had been used for this change)."""

    transaction = PointsTransactionSerializer(read_only=True)
    replayed = serializers.BooleanField(read_only=True)

    class Meta(CustomerDetailSerializer.Meta):
        fields = [*CustomerDetailSerializer.Meta.fields, "transaction", "replayed"]


class BindInSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    method = serializers.ChoiceField(choices=BindingMethod.choices)
    member_id = serializers.CharField(required=False, allow_blank=True, max_length=128)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)


class UnmergeResultSerializer(serializers.Serializer):
    survivor = CustomerSerializer()
    restored = CustomerSerializer()


class QuotaSerializer(serializers.Serializer):
    quota = serializers.IntegerField()
    used = serializers.IntegerField()
    percent = serializers.FloatField()
    remaining = serializers.IntegerField()
    over = serializers.IntegerField()
    rule = serializers.CharField()


class EventInSerializer(serializers.Serializer):
    id = serializers.CharField(max_length=128, help_text="Client event id, unique per team; a repeat is a duplicate.")
    type = serializers.CharField(
        help_text="member.identify | binding | checkout.completed | tag.add | tag.remove | attribute.set | "
        "unsubscribe | system.<name>"
    )
    occurred_at = serializers.DateTimeField(required=False, help_text="ISO 8601; default now.")
    data = serializers.DictField(required=False)


class EventsInSerializer(serializers.Serializer):
    events = EventInSerializer(many=True, help_text="At most 1,000 events.")


REJECTION_CHOICES = list(REJECTION_CODES.items())


class RejectedEventSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    id = serializers.JSONField(allow_null=True, help_text="the event's id as sent, whatever its JSON type")
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    code = serializers.ChoiceField(
        choices=REJECTION_CHOICES, help_text="Why the event was rejected: stable, whatever the messages' language."
    )


class EventsOutSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    duplicates = serializers.IntegerField()
    rejected = RejectedEventSerializer(many=True)


class BindingLinkInSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=BindingMethod.choices, required=False, allow_blank=True, default="")
    url = serializers.URLField(max_length=2000)


class BindingLinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()


# ------------------------------------------------------------------------------------------- OMO 綁定
class OmoLinkSerializer(serializers.Serializer):
    channel = serializers.IntegerField(help_text="the channel the link opens a chat on")
    kind = serializers.CharField()
    url = serializers.CharField(help_text="LINE oaMessage / wa.me ?text= / m.me ?ref= deep link (its QR code's text)")


class OmoMemberSerializer(serializers.ModelSerializer):
    """A staff member or branch, with its code and its link on each LINE / WhatsApp / Messenger channel."""

    kind = serializers.ChoiceField(choices=OmoKind.choices)
    prefilled_text = serializers.SerializerMethodField(help_text="what a LINE / WhatsApp link types for the customer")
    links = serializers.SerializerMethodField()

    class Meta:
        model = OmoMember
        fields = ["id", "kind", "name", "code", "is_active", "created_at", "prefilled_text", "links"]
        read_only_fields = ["id", "code", "is_active", "created_at"]

    def get_prefilled_text(self, member) -> str:
        return omo.prefilled_text(member)

    @extend_schema_field(OmoLinkSerializer(many=True))
    def get_links(self, member):
        channels = self.context.get("omo_channels", [])
        return [{"channel": c.pk, "kind": c.kind, "url": url} for c, url in omo.member_links(member, channels)]


class OmoAddCustomerSerializer(serializers.Serializer):
    channel = TeamRelatedField(queryset=Channel.objects.all())
    external_id = serializers.CharField(
        max_length=128, help_text="a WhatsApp number (normalised to E.164) or a channel id"
    )
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class OmoAddedSerializer(serializers.Serializer):
    contact = serializers.IntegerField()
    customer = serializers.IntegerField()
    created = serializers.BooleanField(help_text="a new contact (source OMO 綁定); false: an existing one, now bound")


class OmoTransferSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=1000, help_text="contact ids"
    )

    def validate_contacts(self, ids):
        """The team's contacts, read in one query; another team's id is refused as a nonexistent one."""
        found = set(Contact.objects.for_team(self.context["team"]).filter(pk__in=ids).values_list("pk", flat=True))
        missing = next((pk for pk in ids if pk not in found), None)
        if missing is not None:
            raise serializers.ValidationError(f'Invalid pk "{missing}" - object does not exist.', code="does_not_exist")
        return list(dict.fromkeys(ids))


class OmoTransferredSerializer(serializers.Serializer):
    moved = serializers.IntegerField(help_text="contacts bound to the member now (already bound ones are not moves)")


class OmoAssignmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = OmoAssignment
        fields = ["id", "contact", "member", "method", "previous", "by", "at"]
        read_only_fields = fields
