"""Publish sealed ballots whose publication key the key store lost, with the offline recovery key.

    python manage.py recover_ballots --identity /media/usb/recovery-identity.txt [--poll ID]
    python manage.py recover_ballots --identity - < identity.txt      # from standard input

The identity file (age, AGE-SECRET-KEY-1…) opens the recovery copies of the keys that still have
waiting ballots; their private halves go back into the key store, and a sealing run publishes
them as usual (K at a time, or the remainder with the final result of a closed poll). Each
ballot is published once: sealing takes it out of the inbox in the publication's transaction.
The identity is read, used in memory and never written anywhere.
"""

import sys

from django.core.management.base import BaseCommand, CommandError

from ballots import keys
from ballots.models import InboxBallot
from tallying import services


class Command(BaseCommand):
    help = "Open the waiting ballots of lost publication keys with the offline recovery identity and publish them."

    def add_arguments(self, parser):
        parser.add_argument("--identity", required=True, help="age identity file of the recovery key, or - for stdin")
        parser.add_argument("--poll", type=int, help="only this poll")

    def handle(self, *args, identity, poll=None, **options):
        try:
            text = sys.stdin.read() if identity == "-" else open(identity).read()
        except OSError as error:
            raise CommandError(f"Cannot read the identity file: {error.strerror}.") from None
        try:
            restored = keys.restore_from_recovery(text, poll)
        except ValueError as error:
            raise CommandError(f"The recovery key does not open these keys: {error}.") from None
        except keys.KeyStoreUnavailable as error:
            raise CommandError(f"The key store cannot be reached: {error}.") from None
        for poll_id, count in sorted(restored.items()):
            self.stdout.write(f"Poll {poll_id}: {count} publication key(s) restored to the key store.")
        published = services.seal_all_polls()
        for poll_id, count in sorted(published.items()):
            if count:
                self.stdout.write(f"Poll {poll_id}: {count} ballot(s) published.")
        waiting = InboxBallot.objects.count()
        self.stdout.write(
            f"{waiting} ballot(s) still wait for a publication (fewer than K of a poll, or not yet closed)."
            if waiting else "No ballot waits."
        )
