"""Once a poll leaves draft, its definition (region, question, answers in both languages) cannot
change: the database itself refuses, whatever path tries (here: plain ORM writes and raw SQL, as
the admin, a shell or a bug would)."""

import pytest
from django.db import IntegrityError, connection, transaction

from ballots.models import Option, Poll
from ballots.services import OPERATOR, edit_poll, schedule_poll
from regions.models import Region
from tallying import ledger
from tallying.models import PollHead, Snapshot
from tallying.services import DefinitionChanged, seal_poll
from tests.factories import make_poll, make_region
from tests.sealing import insert_ballots

pytestmark = pytest.mark.django_db


def refused(change):
    with pytest.raises(IntegrityError, match="left draft|cannot change|part of that poll"), transaction.atomic():
        change()


def sql(statement, params):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture(params=[Poll.State.SCHEDULED, Poll.State.OPEN, Poll.State.PAUSED, Poll.State.CLOSED])
def published_poll(request):
    return make_poll(state=request.param)


@pytest.mark.parametrize("field, value", [
    ("question_en", "Do you support the status quo?"),
    ("question_ru", "Поддерживаете ли вы статус-кво?"),
])
def test_question_cannot_change(published_poll, field, value):
    refused(lambda: Poll.objects.filter(pk=published_poll.pk).update(**{field: value}))
    refused(lambda: sql(f"UPDATE ballots_poll SET {field} = %s WHERE id = %s", [value, published_poll.id]))
    published_poll.refresh_from_db()
    assert getattr(published_poll, field) != value


def test_region_cannot_change(published_poll):
    other = make_region("urals", "Urals", "Урал")
    refused(lambda: Poll.objects.filter(pk=published_poll.pk).update(region=other))


@pytest.mark.parametrize("field", ["label_en", "label_ru", "ordering"])
def test_answer_cannot_change(published_poll, field):
    option = published_poll.options.first()
    value = 7 if field == "ordering" else "Swapped"
    refused(lambda: Option.objects.filter(pk=option.pk).update(**{field: value}))
    refused(lambda: sql(f"UPDATE ballots_option SET {field} = %s WHERE id = %s", [value, option.id]))


def test_answers_cannot_be_added_removed_or_moved(published_poll):
    option = published_poll.options.first()
    refused(lambda: Option.objects.create(poll=published_poll, label_en="Maybe", label_ru="Может быть"))
    refused(lambda: Option.objects.filter(pk=option.pk).delete())
    draft = make_poll(state=Poll.State.DRAFT, region=make_region("urals", "Urals", "Урал"))
    refused(lambda: Option.objects.filter(pk=option.pk).update(poll=draft))  # out of a published poll
    refused(lambda: Option.objects.filter(pk=draft.options.first().pk).update(poll=published_poll))  # into one
    assert published_poll.options.count() == 2


def test_poll_cannot_go_back_to_draft_or_be_deleted(published_poll):
    refused(lambda: Poll.objects.filter(pk=published_poll.pk).update(state=Poll.State.DRAFT))
    refused(lambda: sql("DELETE FROM ballots_option WHERE poll_id = %s", [published_poll.id]))
    refused(lambda: sql("DELETE FROM ballots_poll WHERE id = %s", [published_poll.id]))


def test_region_slug_cannot_change_under_a_published_poll(published_poll):
    refused(lambda: Region.objects.filter(pk=published_poll.region_id).update(slug="west-siberia"))
    Region.objects.filter(pk=published_poll.region_id).update(name_en="Siberia (West)")  # names are not signed


def test_lifecycle_changes_still_allowed(published_poll):
    """What may change after draft still does: state, window, e-mail registration."""
    Poll.objects.filter(pk=published_poll.pk).update(
        closes_at=published_poll.closes_at.replace(year=published_poll.closes_at.year + 1), email_registration=True,
    )
    Poll.objects.filter(pk=published_poll.pk).update(state=Poll.State.CLOSED)


def test_a_draft_changes_freely_until_it_is_scheduled():
    poll = make_poll(state=Poll.State.DRAFT)
    Poll.objects.filter(pk=poll.pk).update(question_en="Edited?")
    Option.objects.create(poll=poll, label_en="Maybe", label_ru="Может быть", ordering=5)
    edit_poll(OPERATOR, poll.id, "Final question?", "Последний вопрос?", [("Yes", "Да"), ("No", "Нет")],
              poll.opens_at, poll.closes_at)
    schedule_poll(poll.id)
    refused(lambda: Poll.objects.filter(pk=poll.pk).update(question_en="Edited again?"))


def test_a_definition_changed_behind_the_triggers_stops_publication():
    """If the owner disables the triggers and edits a label, sealing refuses to sign over the changed
    wording: the chain began from the old definition's hash."""
    poll = make_poll()
    insert_ballots(poll, 3)
    assert seal_poll(poll.id) == 3
    head = PollHead.objects.get(poll=poll)
    from ballots.queries import poll_definition

    assert bytes(head.genesis) == ledger.definition_hash(poll_definition(poll))  # genesis version 2
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")  # a superuser skips ordinary triggers
        cursor.execute("UPDATE ballots_option SET label_en = 'No' WHERE poll_id = %s AND label_en = 'Yes'", [poll.id])
        cursor.execute("SET session_replication_role = origin")
    insert_ballots(poll, 3)
    with pytest.raises(DefinitionChanged):
        seal_poll(poll.id)
    assert Snapshot.objects.filter(poll=poll).count() == 1
