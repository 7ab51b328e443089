"""Helpers for the mirror tests: a few real publications, and a bundle built from them."""

from ballots.services import cast_ballot
from tallying import services
from tests.factories import make_codes, make_poll, make_region


def publish_rounds(rounds=3, per_round=4):
    """Two regions' polls, `rounds` publications each of `per_round` real casts; return
    (polls, {tracker: (poll, option)}) of every ballot cast."""
    polls = [make_poll(), make_poll(region=make_region("urals", "Urals", "Урал"))]
    trackers = {}
    for _round in range(rounds):
        for poll in polls:
            options = list(poll.options.all())
            for i, code in enumerate(make_codes(poll, per_round)):
                option = options[i % len(options)]
                trackers[cast_ballot(poll.id, code, option.id)] = (poll, option)
            assert services.seal_poll(poll.id) == per_round
    return polls, trackers


def configure(settings, tmp_path, targets=""):
    settings.MIRROR_BUILD_DIR = tmp_path / "build"
    settings.MIRROR_TARGETS = targets
    settings.MIRROR_ORIGIN_URL = "http://127.0.0.1:8000"
