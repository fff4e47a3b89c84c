from rest_framework import serializers

from accounts.api_base import TeamModelSerializer

from .models import Campaign, Claim, CouponCode


class CouponCampaignSerializer(TeamModelSerializer):
    module = serializers.IntegerField(source="module_id", read_only=True, help_text="The coupon card (chatbot module).")

    class Meta:
        model = Campaign
        fields = ["id", *Campaign.EDITABLE_FIELDS, "module", "archived_at", "created_at"]
        read_only_fields = ["archived_at", "created_at"]


class CodeSerializer(serializers.ModelSerializer):
    class Meta:
        model = CouponCode
        fields = ["id", "code", "claimed_at"]


class CodesInSerializer(serializers.Serializer):
    generate = serializers.IntegerField(required=False, min_value=1, max_value=2_000_000)
    prefix = serializers.CharField(required=False, allow_blank=True, max_length=16)
    codes = serializers.ListField(
        child=serializers.CharField(max_length=200, allow_blank=True), required=False, max_length=100_000
    )

    def validate(self, attrs):
        if bool(attrs.get("generate")) == bool(attrs.get("codes")):
            raise serializers.ValidationError(
                {"non_field_errors": ["Give either generate (a count) or codes (a list)."]}
            )
        return attrs


class CodesOutSerializer(serializers.Serializer):
    imported = serializers.IntegerField()
    duplicates = serializers.ListField(child=serializers.DictField())
    errors = serializers.ListField(child=serializers.DictField())


class CouponStatisticsSerializer(serializers.Serializer):
    sent = serializers.IntegerField(help_text="Successful sends of the coupon card (the rates' denominator).")
    claimed = serializers.IntegerField(help_text="Customers who claimed (once per customer).")
    claimed_codes = serializers.IntegerField()
    claim_rate = serializers.FloatField(allow_null=True, help_text="claimed / sent, percent.")
    redeemed = serializers.IntegerField(help_text="Customers who redeemed (once per customer).")
    redemption_rate = serializers.FloatField(allow_null=True, help_text="redeemed / sent, percent.")
    bindings = serializers.IntegerField(help_text="Claiming customers bound with method coupon.")
    revenue = serializers.DictField(child=serializers.CharField(), help_text="{currency: amount} of redeemed orders.")


class ClaimSerializer(serializers.ModelSerializer):
    class Meta:
        model = Claim
        fields = ["id", "code", "customer", "contact", "claimed_at", "redeemed_at", "order_id"]
