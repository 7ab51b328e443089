import copy
import unicodedata

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import codes
from .blind import option_value
from .errors import MalformedCode


def shown_symbol(typed):
    """A character as a person can recognise it in a message: itself, or its code point when it
    prints as nothing (a zero-width or control character)."""
    if typed.isprintable() and not typed.isspace() and unicodedata.category(typed) not in ("Mn", "Me"):
        return typed
    return f"U+{ord(typed):04X}"


def _malformed_message(error, symbols, example, not_allowed, wrong_length):
    if error.symbol is not None:
        return not_allowed % {"symbol": shown_symbol(error.symbol), "example": example}
    return wrong_length % {"count": error.length, "symbols": symbols, "example": example}


def malformed_code(error):
    """The refusal of a code that is not one (codes.MalformedValue), naming what is wrong."""
    return MalformedCode(_malformed_message(
        error, codes.CODE_SYMBOLS, "K7QM-2XWP-9HTR-4FZA-8B3D",
        gettext(
            "This does not look like a voting code: “%(symbol)s” is not one of its symbols. A code has only "
            "digits and Latin letters (no I, L, O or U), for example %(example)s."
        ),
        ngettext(
            "This does not look like a voting code: it has %(count)d letter or digit, a code has %(symbols)d, "
            "for example %(example)s. Please check it and try again.",
            "This does not look like a voting code: it has %(count)d letters and digits, a code has %(symbols)d, "
            "for example %(example)s. Please check it and try again.",
            error.length,
        ),
    ))


def malformed_tracker_message(error):
    return _malformed_message(
        error, codes.TRACKER_SYMBOLS, "",
        gettext(
            "This does not look like a tracker code: “%(symbol)s” is not one of its symbols. A tracker has only "
            "digits and Latin letters (no I, L, O or U), in groups of four."
        ),
        ngettext(
            "This does not look like a tracker code: it has %(count)d letter or digit, a tracker has %(symbols)d, "
            "in groups of four.",
            "This does not look like a tracker code: it has %(count)d letters and digits, a tracker has %(symbols)d, "
            "in groups of four.",
            error.length,
        ),
    )


def normalized_code(text):
    """The code in its canonical form; MalformedCode (naming the symbol at fault) otherwise."""
    try:
        return codes.normalize_code(text)
    except codes.MalformedValue as error:
        raise malformed_code(error) from None


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

    @classmethod
    def cleaned(cls, poll, data):
        """What is_valid() and cleaned_data say of a POST for this poll, from the form's own fields
        but without building a form (that deep-copies every field and widget, the largest share of
        a form step's own work): a dict, or None when the data is not valid (then build the form
        to show why). tests/test_ballot_form.py compares the two on every kind of input."""
        try:
            return {"code": cls.base_fields["code"].clean(data.get("code")),
                    "option": _answer_field(poll).clean(data.get("option"))}
        except ValidationError:
            return None


def _answer_field(poll):
    """The answer field of this poll's form, kept on the poll (whose answers are frozen once it
    leaves draft); only validates, never renders."""
    field = poll.__dict__.get("_answer_field")
    if field is None:
        field = copy.deepcopy(BallotForm.base_fields["option"])
        field.answer_ids = {o.id for o in poll.options.all()}
        poll.__dict__["_answer_field"] = field
    return field
