from django import forms
from django.utils.translation import gettext_lazy as _


class BallotForm(forms.Form):
    """Step one: the code and the answer. Refusals of the code itself come from the service."""

    code = forms.CharField(
        label=_("Voting code"),
        max_length=64,
        error_messages={"required": _("Please enter your voting code.")},
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "placeholder": "XXXX-XXXX-XXXX-XXXX-XXXX",
            }
        ),
    )
    option = forms.TypedChoiceField(
        label=_("Your answer"),
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Please choose an answer."),
            "invalid_choice": _("Please choose one of the answers listed for this question."),
        },
    )

    def __init__(self, poll, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["option"].choices = [(o.id, o.label) for o in poll.options.all()]
