from django import forms
from django.utils.translation import gettext_lazy as _

from sync.models import Transfer


class TransferFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("Status"), required=False, choices=[("", _("all")), *Transfer.State.choices]
    )
    object_type = forms.ChoiceField(
        label=_("Object"), required=False, choices=[("", _("all")), *Transfer.ObjectType.choices]
    )
    day = forms.DateField(
        label=_("Date"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
