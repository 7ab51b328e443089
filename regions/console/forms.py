from django import forms
from django.contrib.auth.forms import SetPasswordForm
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from regions.models import Organizer, Region


class RegionForm(forms.Form):
    slug = forms.CharField(
        label=_("Short name (in addresses)"), max_length=40,
        help_text=_("Latin lower-case letters, digits and dashes, e.g. “tatarstan”. It cannot change later."),
        validators=[RegexValidator(r"^[a-z0-9]+(-[a-z0-9]+)*$", _("Use latin lower-case letters, digits and dashes only."))],
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
        error_messages={"required": _("Please enter a short name.")},
    )
    name_en = forms.CharField(label=_("Name in English"), max_length=100,
                              error_messages={"required": _("Please enter the name in English.")})
    name_ru = forms.CharField(label=_("Name in Russian"), max_length=100,
                              error_messages={"required": _("Please enter the name in Russian.")})

    def clean_slug(self):
        slug = self.cleaned_data["slug"].strip().lower()
        if Region.objects.filter(slug=slug).exists():
            raise forms.ValidationError(_("A region with this short name already exists."))
        return slug


class AccountForm(forms.Form):
    username = forms.CharField(
        label=_("User name"), max_length=150,
        help_text=_("Only the organizer and the coordinators see it; the public audit log shows a pseudonym."),
        validators=[RegexValidator(r"^[\w.@+-]+$", _("Use letters, digits and . @ + - _ only (no spaces)."))],
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "none"}),
        error_messages={"required": _("Please enter a user name.")},
    )
    role = forms.ChoiceField(label=_("Role"), choices=Organizer.Role.choices, initial=Organizer.Role.REGIONAL,
                             widget=forms.RadioSelect)
    regions = forms.ModelMultipleChoiceField(
        label=_("Regions (for a regional organizer)"), queryset=Region.objects.all(), required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def clean(self):
        data = super().clean()
        if data.get("role") == Organizer.Role.REGIONAL and not data.get("regions"):
            self.add_error("regions", _("A regional organizer needs at least one region."))
        return data


class AccountActionForm(forms.Form):
    organizer = forms.IntegerField(widget=forms.HiddenInput)


class DeactivateForm(AccountActionForm):
    confirm = forms.BooleanField(
        label=_("Yes, deactivate this account now"),
        error_messages={"required": _("Tick the box to confirm.")},
    )


class WelcomeForm(SetPasswordForm):
    """Set a password from a one-time link: Django's validators (length ≥ 12, not common, not
    like the user name) and its two-field check."""

    token = forms.CharField(widget=forms.HiddenInput)
