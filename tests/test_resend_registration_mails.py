"""resend_registration_mails refuses an identity that is not the offline recovery key, with a clear
message, and leaves every pending mail as it was; the server's own keys (SECRET_KEY's Fernet) do not
open a pending mail."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ballots import encryption, keys, registration, sealed
from ballots.models import PendingMail
from tests.factories import make_poll

pytestmark = pytest.mark.django_db


def pending(poll, address):
    request = registration.seal_request(poll.id, address, f"https://vote.example/polls/{poll.id}/", "ru")
    minute = timezone.now().replace(second=0, microsecond=0)
    return PendingMail.objects.create(poll=poll, sealed=request, queued_at=minute)


def payload_length(age_file):
    """Bytes after the age header (which ends with the line "--- MAC")."""
    data = bytes(age_file)
    return len(data) - data.index(b"\n", data.index(b"\n--- ") + 1) - 1


def refused(tmp_path, identity_text, match):
    path = tmp_path / "identity.txt"
    path.write_text(identity_text)
    with pytest.raises(CommandError, match=match):
        call_command("resend_registration_mails", identity=str(path), older_than=0)


def test_a_wrong_identity_is_refused_and_nothing_changes(tmp_path):
    poll = make_poll()
    rows = [pending(poll, f"voter{i}@example.org") for i in range(3)]
    stranger = sealed.new_identity()[0]
    refused(tmp_path, stranger, "does not open the pending mails: this identity opens none of 3")
    refused(tmp_path, "not an identity at all\n", "holds no age identity")
    with pytest.raises(CommandError, match="Cannot read the identity file"):
        call_command("resend_registration_mails", identity=str(tmp_path / "missing.txt"))
    assert set(PendingMail.objects.values_list("id", flat=True)) == {r.id for r in rows}
    PendingMail.objects.all().delete()
    # Nothing pending: the identity is still checked, against the configured recipients.
    refused(tmp_path, stranger, "not one of PUBLICATION_RECOVERY_RECIPIENTS")


def test_only_the_offline_identity_opens_a_pending_mail():
    poll = make_poll()
    short, long = pending(poll, "a@example.org"), pending(poll, "a.much.longer.address+tag@mail.example.org")
    # The encrypted payload has one length whatever the address (age's header varies at random: grease).
    assert payload_length(short.sealed) == payload_length(long.sealed) == 16 + 1024 + 16
    for row in (short, long):
        for purpose in (encryption.EMAIL_ADDRESS, encryption.BATCH_CODES):
            with pytest.raises(encryption.InvalidToken):
                encryption.decrypt(purpose, bytes(row.sealed))
        with pytest.raises(ValueError, match="does not open"):
            sealed.open_recovery_copy(bytes(row.sealed), sealed.parse_identities(sealed.new_identity()[0]))
    identities = sealed.parse_identities(keys.development_recovery_identity()[0])
    assert b'"address": "a@example.org"' in sealed.open_recovery_copy(bytes(short.sealed), identities)
