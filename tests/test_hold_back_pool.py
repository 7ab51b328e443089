"""The hold-back pool: a publication happens once K + H wait, publishes all but H of them, and the
H held back (chosen at random) wait sealed to the new key, under new ids, for a later publication
or the final result."""

import pytest

from ballots import codes, keys
from ballots.models import InboxBallot
from ballots.services import OPERATOR, cast_ballot, close_poll
from tallying.models import LedgerEntry
from tallying.services import publish_final, seal_poll
from tests.factories import make_codes, make_poll

pytestmark = pytest.mark.django_db(transaction=True)


def cast(poll, codes_):
    option = poll.options.first().id
    return [codes.hash_tracker(codes.normalize_tracker(cast_ballot(poll.id, c, option))) for c in codes_]


def test_a_publication_holds_back_h_random_ballots_sealed_to_the_new_key(settings):
    settings.PUBLISH_MIN_BALLOTS, settings.PUBLISH_HOLD_BACK = 5, 3
    held_positions = set()
    for _round in range(6):
        poll = make_poll()
        voting_codes = make_codes(poll, 8)
        trackers = cast(poll, voting_codes[:7])
        assert seal_poll(poll.id) == 0  # 7 < K + H
        cast_ids = set(InboxBallot.objects.values_list("id", flat=True))
        trackers += cast(poll, voting_codes[7:])
        assert seal_poll(poll.id) == 5
        published = {bytes(t) for t in LedgerEntry.objects.filter(poll=poll).values_list("tracker_hash", flat=True)}
        waiting = InboxBallot.objects.filter(poll=poll)
        assert waiting.count() == 3
        assert set(waiting.values_list("key_id", flat=True)) == {keys.current_key_id(poll.id)}
        assert not set(waiting.values_list("id", flat=True)) & cast_ids  # new ids, written by the sealer
        held = {t for _o, t in keys.open_waiting(poll.id)}
        assert held | published == set(trackers) and not held & published
        held_positions |= {trackers.index(t) for t in held}
        close_poll(poll.id)
        assert publish_final(poll.id, OPERATOR).total == 8  # the pool is published with the final result
        assert not InboxBallot.objects.filter(poll=poll).exists()
    assert len(held_positions) >= 5  # not always the same casts: chosen at random (6 rounds of 3 of 8)
