from django import forms
from django.utils.translation import gettext_lazy as _

from .blind import option_value


class AnswerField(forms.TypedChoiceField):
    """An answer id, sent zero-padded (ballots/blind.py) and accepted with or without padding."""

    def valid_value(self, value):
        try:
            return int(value) in self.answer_ids
        except (TypeError, ValueError):
            return False


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
    option = AnswerField(
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
        options = list(poll.options.all())
        self.fields["option"].choices = [(option_value(o.id), o.label) for o in options]
        self.fields["option"].answer_ids = {o.id for o in options}
