"""BallotForm.cleaned validates a POST with the form's own fields without building a form; it
must say exactly what is_valid() and cleaned_data say, on every kind of input."""

import pytest
from django.http import QueryDict

from ballots import queries
from ballots.blind import option_value
from ballots.forms import BallotForm
from tests.factories import make_poll


@pytest.mark.django_db
def test_cleaned_says_what_the_form_says():
    poll = queries.public_poll(make_poll().id)
    other = make_poll()
    ours, theirs = poll.options.first().id, other.options.first().id
    codes = ["K7QM-2XWP-9HTR-4FZA-8B3D", "  k7qm 2xwp 9htr 4fza 8b3d  ", "", "   ", "X" * 64, "X" * 65, "К7QМ"]
    answers = [str(ours), option_value(ours), f" {ours} ", "0", "-1", "abc", "", str(theirs), "1e3", str(ours) + "0"]
    cases = [{"code": c, "option": a} for c in codes for a in answers]
    cases += [{"code": codes[0]}, {"option": str(ours)}, {}]
    valid = 0
    for case in cases:
        data = QueryDict(mutable=True)
        data.update(case)
        form = BallotForm(poll, data)
        expected = form.cleaned_data if form.is_valid() else None
        assert BallotForm.cleaned(poll, data) == expected, case
        valid += expected is not None
    assert 0 < valid < len(cases)  # both kinds were tried
