"""Every poll transition, the forbidden ones included, each recorded once in the audit log."""

from datetime import timedelta

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from ballots import services
from ballots.errors import CodeRevoked, LifecycleError, PollClosed, PollPaused
from ballots.models import AuditEntry, Poll
from tests.factories import make_codes, make_region

ORGANIZER = services.Actor(role="regional", pseudonym="org-test0001")
ANSWERS = [("Yes", "Да"), ("No", "Нет")]


def draft(opens_in=timedelta(minutes=-1), closes_in=timedelta(days=10)):
    now = timezone.now()
    return services.create_poll(
        ORGANIZER, make_region(), "Independence?", "Независимость?", ANSWERS, now + opens_in, now + closes_in
    )


def actions(poll):
    return list(AuditEntry.objects.filter(poll=poll).order_by("id").values_list("action", flat=True))


@pytest.mark.django_db
def test_create_records_the_poll_and_its_answers_once():
    poll = draft()
    assert poll.state == Poll.State.DRAFT
    assert [(o.label_en, o.label_ru) for o in poll.options.all()] == ANSWERS
    assert actions(poll) == ["create"]
    entry = AuditEntry.objects.get(poll=poll)
    assert (entry.role, entry.organizer) == ("regional", "org-test0001")


@pytest.mark.django_db
def test_edit_while_draft_then_refused_after_it_leaves_draft():
    poll = draft()
    services.edit_poll(
        ORGANIZER, poll.id, "New question?", "Новый вопрос?", [("A", "А"), ("B", "Б"), ("C", "В")],
        poll.opens_at, poll.closes_at,
    )
    poll.refresh_from_db()
    assert poll.question_en == "New question?"
    assert poll.options.count() == 3
    services.schedule_poll(poll.id, actor=ORGANIZER)
    with pytest.raises(LifecycleError, match="no longer a draft"):
        services.edit_poll(ORGANIZER, poll.id, "Changed?", "Изменён?", ANSWERS, poll.opens_at, poll.closes_at)
    poll.refresh_from_db()
    assert poll.question_en == "New question?" and poll.options.count() == 3
    assert actions(poll) == ["create", "edit", "schedule"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answers, message",
    [([("Yes", "Да")], "at least two answers"), ([("Yes", "Да"), ("No", "")], "at least two answers")],
)
def test_create_refuses_bad_answers(answers, message):
    now = timezone.now()
    with pytest.raises(LifecycleError, match=message):
        services.create_poll(ORGANIZER, make_region(), "Q?", "В?", answers, now, now + timedelta(days=1))
    assert not Poll.objects.exists() and not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_create_refuses_a_window_that_ends_before_it_starts():
    now = timezone.now()
    with pytest.raises(LifecycleError, match="closing time must be after"):
        services.create_poll(ORGANIZER, make_region(), "Q?", "В?", ANSWERS, now, now - timedelta(hours=1))


@pytest.mark.django_db
def test_scheduled_poll_accepts_ballots_once_its_opening_time_passes():
    future = draft(opens_in=timedelta(hours=1))
    services.schedule_poll(future.id, actor=ORGANIZER)
    assert Poll.objects.get(pk=future.id).phase() == "not_yet_open"
    started = draft(opens_in=timedelta(seconds=-1))
    services.schedule_poll(started.id, actor=ORGANIZER)
    (code,) = make_codes(started)
    assert services.cast_ballot(started.id, code, started.options.first().id)


@pytest.mark.django_db
def test_open_pause_resume_close_and_each_is_audited_once():
    poll = draft(opens_in=timedelta(hours=2))
    services.open_poll(poll.id, actor=ORGANIZER)
    poll.refresh_from_db()
    assert poll.state == Poll.State.OPEN and poll.opens_at <= timezone.now()  # open now moves the opening

    with pytest.raises(LifecycleError, match="reason"):
        services.pause_poll(poll.id, "  ", actor=ORGANIZER)
    services.pause_poll(poll.id, "Flood of bot traffic from one network", actor=ORGANIZER)
    code, spare = make_codes(poll, 2)
    with pytest.raises(PollPaused):
        services.cast_ballot(poll.id, code, poll.options.first().id)

    services.resume_poll(poll.id, actor=ORGANIZER)
    assert services.cast_ballot(poll.id, code, poll.options.first().id)
    services.close_poll(poll.id, actor=ORGANIZER)
    with pytest.raises(PollClosed):
        services.cast_ballot(poll.id, spare, poll.options.first().id)

    assert actions(poll) == ["create", "open", "pause", "issue_batch", "resume", "close"]
    pause = AuditEntry.objects.get(poll=poll, action="pause")
    assert pause.reason == "Flood of bot traffic from one network"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "setup, forbidden, message",
    [
        (["close"], lambda p: services.resume_poll(p, actor=ORGANIZER), "Only a paused poll can be resumed"),
        # (a poll closed early has its closing time moved to the close: either refusal is right)
        (["close"], lambda p: services.open_poll(p, actor=ORGANIZER), "Only a draft or scheduled|closing time has passed"),
        (["close"], lambda p: services.close_poll(p, actor=ORGANIZER), "already closed"),
        (["open"], lambda p: services.schedule_poll(p, actor=ORGANIZER), "Only a draft can be scheduled"),
        (["open"], lambda p: services.resume_poll(p, actor=ORGANIZER), "Only a paused poll"),
        ([], lambda p: services.pause_poll(p, "why", actor=ORGANIZER), "Only a scheduled or open poll"),
        ([], lambda p: services.extend_poll(p, timezone.now() + timedelta(days=60), actor=ORGANIZER),
         "Only an open or paused poll"),
        (["close"], lambda p: services.extend_poll(p, timezone.now() + timedelta(days=60), actor=ORGANIZER),
         "Only an open or paused poll"),
    ],
)
def test_forbidden_transitions_are_refused_and_not_audited(setup, forbidden, message):
    poll = draft()
    for step in setup:
        {"open": services.open_poll, "close": services.close_poll}[step](poll.id, actor=ORGANIZER)
    state_before = Poll.objects.get(pk=poll.id).state
    entries_before = actions(poll)
    with pytest.raises(LifecycleError, match=message):
        forbidden(poll.id)
    assert Poll.objects.get(pk=poll.id).state == state_before
    assert actions(poll) == entries_before


@pytest.mark.django_db
def test_extend_only_forward_while_open_or_paused():
    poll = draft()
    services.open_poll(poll.id, actor=ORGANIZER)
    with pytest.raises(LifecycleError, match="later than the current"):
        services.extend_poll(poll.id, poll.closes_at - timedelta(days=1), actor=ORGANIZER)
    later = poll.closes_at + timedelta(days=7)
    services.extend_poll(poll.id, later, actor=ORGANIZER)
    services.pause_poll(poll.id, "maintenance", actor=ORGANIZER)
    services.extend_poll(poll.id, later + timedelta(days=1), actor=ORGANIZER)
    assert Poll.objects.get(pk=poll.id).closes_at == later + timedelta(days=1)
    assert actions(poll) == ["create", "open", "extend", "pause", "extend"]


@pytest.mark.django_db
def test_audit_log_refuses_update_and_delete_in_the_database():
    poll = draft()
    entry = AuditEntry.objects.get(poll=poll)
    for change in (
        lambda: AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten"),
        lambda: AuditEntry.objects.filter(pk=entry.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    assert AuditEntry.objects.get(pk=entry.pk).reason == ""


@pytest.mark.django_db
def test_revoked_batch_stops_unused_codes_and_keeps_cast_ballots():
    poll = draft()
    services.open_poll(poll.id, actor=ORGANIZER)
    batch, (used, unused) = services.issue_codes(poll, 2, actor=ORGANIZER)
    services.cast_ballot(poll.id, used, poll.options.first().id)
    with pytest.raises(LifecycleError, match="reason"):
        services.revoke_batch(batch.id, "", actor=ORGANIZER)
    services.revoke_batch(batch.id, "Cards stolen from a courier", actor=ORGANIZER)
    with pytest.raises(CodeRevoked):
        services.cast_ballot(poll.id, unused, poll.options.first().id)
    assert poll.inbox.count() == 1
    assert actions(poll) == ["create", "open", "issue_batch", "revoke_batch"]
