"""Publication in steps of at least K ballots (PUBLISH_MIN_BALLOTS): no published figure ever
moves by fewer than K ballots, except the remainder published with the final result."""

import json
import time

import pytest
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from ballots.errors import PollClosed
from ballots.models import InboxBallot
from ballots.services import OPERATOR, cast_ballot, close_poll
from tallying.models import OptionCount, Snapshot
from tallying.services import PublishRefused, publish_final, seal_poll
from tests.factories import make_codes, make_poll
from tests.sealing import assert_ledger_consistent
from tests.workers import celery_process


def published_steps(poll):
    """[(new ballots, is_final)] of the poll's snapshots in order."""
    steps, previous = [], 0
    for position, final in Snapshot.objects.filter(poll=poll).order_by("position", "taken_at", "id").values_list(
        "position", "is_final"
    ):
        steps.append((position - previous, final))
        previous = position
    return steps


def assert_steps_of_at_least(poll, k):
    for new, final in published_steps(poll):
        assert final or new >= k, f"a publication covered {new} new ballots (< K = {k})"
    counted = sum(OptionCount.objects.filter(poll=poll).values_list("count", flat=True))
    latest = Snapshot.objects.filter(poll=poll).order_by("-position", "-taken_at", "-id").first()
    assert counted == (latest.total if latest else 0), "counts moved without a publication"


steps = st.lists(
    st.one_of(
        st.tuples(st.just("cast"), st.integers(min_value=0, max_value=2)),
        st.tuples(st.just("seal"), st.integers(min_value=1, max_value=12)),
        st.tuples(st.just("close"), st.just(0)),
    ),
    min_size=1,
    max_size=45,
)


@pytest.mark.django_db
@hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(k=st.integers(min_value=2, max_value=6), steps=steps)
def test_no_interleaving_publishes_fewer_than_k_except_the_final_remainder(settings, k, steps):
    settings.PUBLISH_MIN_BALLOTS = k
    poll = make_poll(answers=(("Yes", "Да"), ("No", "Нет"), ("Abstain", "Воздержаться")))
    options = list(poll.options.all())
    codes = iter(make_codes(poll, 1 + sum(1 for kind, _ in steps if kind == "cast")))
    cast, closed = 0, False
    for kind, value in steps:
        if kind == "cast":
            try:
                cast_ballot(poll.id, next(codes), options[value].id)
                cast += 1
            except PollClosed:
                assert closed
        elif kind == "seal":
            waiting = InboxBallot.objects.filter(poll=poll).count()
            published = seal_poll(poll.id, batch_size=value)
            assert published == 0 or published >= k
            assert published == 0 if waiting < k else published >= k
        elif not closed:
            close_poll(poll.id, actor=OPERATOR)
            closed = True
        assert_steps_of_at_least(poll, k)
        assert_ledger_consistent(poll.id)
    if not closed:
        close_poll(poll.id, actor=OPERATOR)
    final = publish_final(poll.id, OPERATOR)
    assert final.is_final and final.position == cast
    assert assert_ledger_consistent(poll.id) == cast
    assert not InboxBallot.objects.filter(poll=poll).exists()
    assert_steps_of_at_least(poll, k)


K = 5


def cast_over_http(client, poll, code, option):
    response = client.post(
        f"/api/v1/polls/{poll.id}/ballots", data=json.dumps({"code": code, "option": option.id}),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()["tracker"]


def wait_for_tally(client, poll, condition, seconds):
    deadline = time.monotonic() + seconds
    while True:
        tally = client.get(f"/api/v1/polls/{poll.id}/tally").json()
        if condition(tally):
            return tally
        assert time.monotonic() < deadline, f"waited {seconds} s; the tally is still {tally}"
        time.sleep(0.3)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_worker_publishes_only_in_steps_of_k_and_the_remainder_with_the_final_result(settings, tmp_path):
    settings.PUBLISH_MIN_BALLOTS = K
    poll = make_poll()
    yes, no = poll.options.all()
    codes = make_codes(poll, 7)
    client = Client()
    with celery_process("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO",
                        log_path=tmp_path / "worker.log", PUBLISH_MIN_BALLOTS=str(K)), \
         celery_process("beat", "-l", "INFO", "--schedule", str(tmp_path / "beat-schedule"),
                        log_path=tmp_path / "beat.log", SEAL_INTERVAL_SECONDS="0.5"):
        for code in codes[:4]:
            cast_over_http(client, poll, code, yes)
        tally = wait_for_tally(client, poll, lambda t: t["received"] == 4, seconds=10)
        assert tally["publish_min_ballots"] == K
        time.sleep(3)  # several sealing runs, none of which may publish 4 < K ballots
        tally = client.get(f"/api/v1/polls/{poll.id}/tally").json()
        assert (tally["counted"], tally["total"], tally["received"], tally["waiting"]) == (0, 0, 4, 4)
        assert not Snapshot.objects.filter(poll=poll).exists()

        cast_over_http(client, poll, codes[4], no)
        tally = wait_for_tally(client, poll, lambda t: t["counted"] == 5, seconds=30)
        assert {c["option"]: c["count"] for c in tally["counts"]} == {yes.id: 4, no.id: 1}
        assert tally["received"] == 5 and tally["waiting"] == 0
        assert published_steps(poll) == [(5, False)]  # all five in one signed snapshot

        for code in codes[5:]:
            cast_over_http(client, poll, code, no)
        wait_for_tally(client, poll, lambda t: t["received"] == 7, seconds=10)
        time.sleep(3)  # open: the beat still publishes nothing smaller than K
        assert published_steps(poll) == [(5, False)]
        assert InboxBallot.objects.filter(poll=poll).count() == 2

        close_poll(poll.id, actor=OPERATOR)  # closing ends with a count: the sealer publishes the final result
        tally = wait_for_tally(client, poll, lambda t: t["counted"] == 7, seconds=30)
        with pytest.raises(PublishRefused, match="already published"):
            publish_final(poll.id, OPERATOR)
    final = Snapshot.objects.get(poll=poll, is_final=True)
    assert final.is_final and final.total == 7
    assert published_steps(poll) == [(5, False), (2, True)]  # the remainder, with the final result
    assert tally["final"] and tally["received"] == 7 and tally["waiting"] == 0
    assert assert_ledger_consistent(poll.id) == 7
    log = (tmp_path / "worker.log").read_text()
    assert "ready." in log  # the worker logged at INFO …
    # … but no line per task: "received"/"succeeded" times would time each task (for e-mail
    # codes they would undo the random delay).
    assert "Task tallying.seal_open_polls[" not in log and " succeeded in " not in log, log[-2000:]
