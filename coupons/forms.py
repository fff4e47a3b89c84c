from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Campaign


class CampaignForm(forms.ModelForm):
    starts_at = forms.DateTimeField(label=_("開始時間"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    ends_at = forms.DateTimeField(label=_("結束時間"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))

    class Meta:
        model = Campaign
        fields = Campaign.EDITABLE_FIELDS
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class GenerateForm(forms.Form):
    count = forms.IntegerField(label=_("產生數量"), min_value=1, max_value=2_000_000)
    prefix = forms.CharField(label=_("代碼前綴"), max_length=16, required=False)


class ImportForm(forms.Form):
    file = forms.FileField(label=_("CSV 檔案"), help_text=_("一欄 code（或第一欄），每列一個優惠碼。"))
