from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import MONEY, MonthlyBill, Transaction


@extend_schema_field({"type": "string", "pattern": r"^\d{4}-\d{2}$", "example": "2026-10"})
class MonthField(serializers.DateField):
    """A month as YYYY-MM (team-local)."""

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m", **kwargs)


class BalanceSerializer(serializers.Serializer):
    balance = serializers.DecimalField(**MONEY)
    currency = serializers.CharField()
    low_balance_threshold = serializers.DecimalField(**MONEY)
    grace_amount = serializers.DecimalField(**MONEY)
    blocked = serializers.BooleanField()


class TransactionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Transaction
        fields = [
            "id",
            "type",
            "amount",
            "balance_after",
            "product",
            "feature",
            "channel",
            "quantity",
            "note",
            "reference",
            "idempotency_key",
            "refund_of",
            "actor",
            "created_at",
        ]
        read_only_fields = fields


class UsageRowSerializer(serializers.Serializer):
    month = MonthField()
    product = serializers.CharField()
    feature = serializers.CharField()
    channel = serializers.CharField()
    quantity = serializers.IntegerField()
    amount = serializers.DecimalField(**MONEY)


class UsageSerializer(serializers.Serializer):
    currency = serializers.CharField()
    results = UsageRowSerializer(many=True)


class BillLineSerializer(serializers.Serializer):
    feature = serializers.CharField()
    channel = serializers.CharField()
    quantity = serializers.IntegerField()
    amount = serializers.DecimalField(**MONEY)


class MonthlyBillSerializer(serializers.ModelSerializer):
    month = MonthField(read_only=True)
    lines = BillLineSerializer(many=True, read_only=True)

    class Meta:
        model = MonthlyBill
        fields = ["id", "month", "currency", "quantity", "amount", "lines", "created_at", "emailed_at", "emailed_to"]
        read_only_fields = fields
