"""A poll closed early shows when it actually closed: closes_at moves to the database's now, the
vote page and the cards say "Closed" with that time (in the region's time and in UTC), and the
organizer who closed it reads that the final result follows by itself."""

from datetime import timedelta

from django.test import Client
from django.utils import timezone

from ballots.models import Poll
from ballots.services import close_poll
from regions.models import Region
from tests.console import make_organizer, verified_client
from tests.factories import make_poll


def test_closing_early_moves_the_closing_time_to_now(db):
    poll = make_poll(closes_in=timedelta(days=30))
    before = timezone.now()
    close_poll(poll.id)
    poll.refresh_from_db()
    assert poll.state == Poll.State.CLOSED
    assert before - timedelta(seconds=5) <= poll.closes_at <= timezone.now() + timedelta(seconds=5)


def test_closing_a_poll_that_never_opened_keeps_its_window(db):
    poll = make_poll(state=Poll.State.SCHEDULED, opens_in=timedelta(days=1), closes_in=timedelta(days=30))
    closes_at = poll.closes_at
    close_poll(poll.id)
    poll.refresh_from_db()
    assert poll.state == Poll.State.CLOSED and poll.closes_at == closes_at


def test_pages_say_closed_with_the_actual_time_in_local_time_and_utc(db):
    poll = make_poll(closes_in=timedelta(days=30))
    Region.objects.filter(pk=poll.region_id).update(time_zone="Asia/Novosibirsk")
    scheduled = poll.closes_at
    close_poll(poll.id)
    poll.refresh_from_db()
    vote = Client().get(f"/polls/{poll.id}/").content.decode()
    assert "Closes" not in vote and "Closed" in vote
    assert f'datetime="{poll.closes_at.isoformat()}"' in vote
    assert scheduled.isoformat() not in vote
    assert "(UTC+7)" in vote and " UTC" in vote
    home = Client().get("/").content.decode()
    assert f'datetime="{poll.closes_at.isoformat()}"' in home and "Closed" in home
    results = Client().get("/results/").content.decode()
    assert f'datetime="{poll.closes_at.isoformat()}"' in results


def test_the_organizer_who_closes_reads_what_happens_next(db):
    poll = make_poll()
    organizer, device = make_organizer("siberia-organizer", region_slugs=[poll.region.slug])
    client = verified_client(organizer, device)
    response = client.post(f"/console/polls/{poll.id}/close", {"confirm": "on"}, follow=True)
    body = response.content.decode()
    assert "final result, with every ballot still waiting, is published automatically" in body
    assert "Done:" not in body
