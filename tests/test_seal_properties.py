"""Property: whatever the interleaving of casts and sealing runs, counts equal the recount,
positions are 1..n without gaps and the chain verifies."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ballots.services import cast_ballot
from tallying.services import seal_poll
from tests.factories import make_codes, make_poll
from tests.sealing import assert_ledger_consistent

steps = st.lists(
    st.one_of(
        st.tuples(st.just("cast"), st.integers(min_value=0, max_value=2)),
        st.tuples(st.just("seal"), st.integers(min_value=1, max_value=6)),
    ),
    min_size=1,
    max_size=40,
)


@pytest.mark.django_db
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_any_interleaving_of_casts_and_seals_keeps_the_ledger_exact(steps):
    poll = make_poll(answers=(("Yes", "Да"), ("No", "Нет"), ("Abstain", "Воздержаться")))
    options = list(poll.options.all())
    codes = iter(make_codes(poll, 1 + sum(1 for kind, _ in steps if kind == "cast")))
    cast = 0
    for kind, value in steps:
        if kind == "cast":
            cast_ballot(poll.id, next(codes), options[value].id)
            cast += 1
        else:
            seal_poll(poll.id, batch_size=value)
        assert_ledger_consistent(poll.id)
    while seal_poll(poll.id, batch_size=5):
        pass
    assert assert_ledger_consistent(poll.id) == cast
