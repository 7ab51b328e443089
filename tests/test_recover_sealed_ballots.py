"""The key store dies mid-period (SIGKILL, restarted empty): every ballot accepted before and after
is published exactly once, after recovery with the offline key, and the export verifies."""

import pytest
from django.core.management import call_command

from ballots import keys
from ballots.models import Credential, InboxBallot, PublicationKey
from ballots.services import cast_ballot, close_poll
from tallying.models import LedgerEntry, Snapshot
from tallying.services import PublishRefused, publish_final, seal_all_polls, seal_poll
from tests.exports import export_lines, verify, write_export
from tests.factories import make_codes, make_poll
from tests.redis_process import private_redis
from tests.sealing import assert_ledger_consistent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def key_store(settings, tmp_path):
    with private_redis(tmp_path) as (url, restart):
        settings.PUBLICATION_KEY_STORE_URL = url
        yield restart
    keys._stores.pop(url, None)


def cast_all(poll, codes):
    options = list(poll.options.all())
    return {cast_ballot(poll.id, code, options[i % 2].id): options[i % 2].id for i, code in enumerate(codes)}


def test_a_killed_key_store_loses_no_ballot_and_publishes_each_once(key_store, settings, tmp_path, capsys):
    settings.PUBLISH_MIN_BALLOTS, settings.PUBLISH_HOLD_BACK = 5, 0
    poll = make_poll()
    codes = make_codes(poll, 24)
    trackers = cast_all(poll, codes[:12])
    assert seal_poll(poll.id) == 12  # the first period, published; its key forgotten
    trackers |= cast_all(poll, codes[12:19])  # 7 sealed to the second period's key

    key_store()  # SIGKILL: the second period's private key is gone with the process

    trackers |= cast_all(poll, codes[19:22])  # casting goes on, still sealed to the lost key
    assert seal_poll(poll.id) == 0  # nothing opens; the sealer moves new casts to a fresh key
    lost_key = PublicationKey.objects.get(poll=poll, retired_at__isnull=False, forgotten_at__isnull=True)
    trackers |= cast_all(poll, codes[22:24])  # 2 sealed to the fresh key
    assert InboxBallot.objects.filter(poll=poll, key=lost_key).count() == 10
    close_poll(poll.id)
    with pytest.raises(PublishRefused):  # a final result never leaves an accepted ballot out
        publish_final(poll.id, keys_actor())
    seal_all_polls()  # the periodic run refuses too, and says so
    assert not Snapshot.objects.filter(poll=poll, is_final=True).exists()

    identity = keys.development_recovery_identity()[0]
    (tmp_path / "identity.txt").write_text(identity)
    call_command("recover_ballots", identity=str(tmp_path / "identity.txt"))
    out = capsys.readouterr().out
    assert f"Poll {poll.id}: 1 publication key(s) restored" in out and f"Poll {poll.id}: 12 ballot(s) published" in out

    call_command("recover_ballots", identity=str(tmp_path / "identity.txt"))  # again: nothing twice
    assert "ballot(s) published" not in capsys.readouterr().out
    ledger = dict(LedgerEntry.objects.filter(poll=poll).values_list("tracker_hash", "option_id"))
    assert len(ledger) == 24 == Credential.objects.filter(poll=poll, used=True).count()
    from ballots import codes as code_tools

    assert {bytes(h): o for h, o in ledger.items()} == {
        code_tools.hash_tracker(code_tools.normalize_tracker(t)): o for t, o in trackers.items()
    }
    assert assert_ledger_consistent(poll.id) == 24
    assert Snapshot.objects.get(poll=poll, is_final=True).total == 24
    assert not InboxBallot.objects.exists()
    assert not PublicationKey.objects.filter(poll=poll, forgotten_at__isnull=True).exists()
    assert not PublicationKey.objects.filter(poll=poll, recovery__isnull=False).exists()
    status, output = verify(write_export(tmp_path / "export.ndjson", export_lines(poll)))
    assert status == 0, output


def test_a_wrong_identity_restores_nothing(key_store, settings, tmp_path):
    settings.PUBLISH_MIN_BALLOTS, settings.PUBLISH_HOLD_BACK = 5, 0
    poll = make_poll()
    cast_all(poll, make_codes(poll, 3))
    key_store()
    from ballots import sealed

    (tmp_path / "other.txt").write_text(sealed.new_identity()[0])
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="does not open"):
        call_command("recover_ballots", identity=str(tmp_path / "other.txt"))
    assert InboxBallot.objects.filter(poll=poll).count() == 3  # nothing lost either


def keys_actor():
    from ballots.services import OPERATOR

    return OPERATOR
