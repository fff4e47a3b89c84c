"""Daily rollups behind the seed 000 dashboards (全渠道顧客分析).

Every row is one team's aggregate for one day *in the team's time zone* (the day the fact happened, its event
time, even when it arrived late). analytics.rollups writes them from cdp's recorded events (CustomerEvent) and
bindings (Binding); analytics.services reads them. Dashboards never scan the contact table.

Deltas: `valid_delta` and `bound_valid_delta` are day-over-day changes of state counts, so the count at the end
of any day is the sum of the deltas of all days up to it (see analytics.rollups for the exact definitions).
"""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import TeamOwned
from cdp.models import BindingMethod, Channel, ContactSource


class ChannelDay(TeamOwned):
    """Per team, channel and local day: new contacts, unsubscribes/blocks and the changes of state counts."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("日期"))
    new_contacts = models.PositiveIntegerField(_("新聯絡人數"), default=0)
    unsubscribes = models.PositiveIntegerField(_("取消訂閱數"), default=0)
    valid_delta = models.IntegerField(default=0)
    bound_valid_delta = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "channel", "day"], name="analytics_channelday_unique"),
        ]
        indexes = [models.Index(fields=["team", "day"], name="analytics_channelday_team_day")]


class SourceDay(TeamOwned):
    """Per team, channel, local day and new-contact source: how many contacts were added."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("日期"))
    source = models.CharField(_("新聯絡人來源"), max_length=32, choices=ContactSource.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "channel", "day", "source"], name="analytics_sourceday_unique"),
        ]
        indexes = [models.Index(fields=["team", "day"], name="analytics_sourceday_team_day")]


class BindingDay(TeamOwned):
    """Per team, channel, local day and binding method: how many social identity bindings were made."""

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("日期"))
    method = models.CharField(_("綁定方式"), max_length=32, choices=BindingMethod.choices)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "channel", "day", "method"], name="analytics_bindingday_unique"),
        ]
        indexes = [models.Index(fields=["team", "day"], name="analytics_bindingday_team_day")]


class KpiSnapshot(TeamOwned):
    """The omni-customer KPIs of one team as of `computed_at` (a current state, not a time series)."""

    omni_customers = models.PositiveIntegerField(_("全渠道顧客"), default=0)
    bound_customers = models.PositiveIntegerField(_("社群身份綁定"), default=0)
    members = models.PositiveIntegerField(_("會員身份"), default=0)
    bound_members = models.PositiveIntegerField(_("會員完成社群身份綁定"), default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team"], name="analytics_kpisnapshot_unique_team")]
