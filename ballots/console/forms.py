from django import forms
from django.utils.translation import gettext_lazy as _

from regions.models import Region

ANSWER_ROWS = 4
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"]


class UTCDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self):
        super().__init__(format="%Y-%m-%dT%H:%M")


def datetime_field(label):
    return forms.DateTimeField(
        label=label,
        input_formats=DATETIME_FORMATS,
        widget=UTCDateTimeInput(),
        help_text=_("In UTC."),
        error_messages={"required": _("Please give a date and time."), "invalid": _("Enter a date and time.")},
    )


class PollForm(forms.Form):
    """A poll's question, answers and window. Regions outside the organizer's are not offered,
    and a forged one is refused like any invalid choice."""

    region = forms.ModelChoiceField(label=_("Region"), queryset=Region.objects.none(), empty_label=None)
    question_en = forms.CharField(label=_("Question in English"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    question_ru = forms.CharField(label=_("Question in Russian"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}))
    opens_at = datetime_field(_("Opens at"))
    closes_at = datetime_field(_("Closes at"))

    def __init__(self, organizer, *args, with_region=True, **kwargs):
        super().__init__(*args, **kwargs)
        if with_region:
            self.fields["region"].queryset = organizer.managed_regions()
        else:
            del self.fields["region"]
        for i in range(1, ANSWER_ROWS + 1):
            required = i <= 2
            self.fields[f"answer{i}_en"] = forms.CharField(
                label=_("Answer %(n)d in English") % {"n": i}, max_length=200, required=required
            )
            self.fields[f"answer{i}_ru"] = forms.CharField(
                label=_("Answer %(n)d in Russian") % {"n": i}, max_length=200, required=required
            )

    def answer_rows(self):
        return [(self[f"answer{i}_en"], self[f"answer{i}_ru"]) for i in range(1, ANSWER_ROWS + 1)]

    def answers(self):
        data = self.cleaned_data
        return [
            (data.get(f"answer{i}_en", ""), data.get(f"answer{i}_ru", ""))
            for i in range(1, ANSWER_ROWS + 1)
        ]

    @classmethod
    def initial_for(cls, poll):
        initial = {
            "question_en": poll.question_en, "question_ru": poll.question_ru,
            "opens_at": poll.opens_at, "closes_at": poll.closes_at,
        }
        for i, option in enumerate(poll.options.all(), start=1):
            initial[f"answer{i}_en"], initial[f"answer{i}_ru"] = option.label_en, option.label_ru
        return initial


class PauseForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (published in the audit log)"), max_length=500, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": _("Please write the reason for the pause; it is published in the audit log.")},
    )


class CloseForm(forms.Form):
    confirm = forms.BooleanField(
        label=_("Yes, close this poll now. No ballot will be accepted after this."),
        error_messages={"required": _("Tick the box to confirm that the poll closes now.")},
    )


class ExtendForm(forms.Form):
    closes_at = datetime_field(_("New closing time"))
