from django.core.management.base import BaseCommand, CommandError

from ballots.errors import BallotError
from ballots.services import revoke_batch


class Command(BaseCommand):
    help = (
        "Revoke a batch of voting codes (e.g. leaked): its unused codes stop working at once; ballots "
        "already cast with it stay counted. The reason is published in the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int)
        parser.add_argument("--reason", required=True, help="why (published in the public audit log)")

    def handle(self, *args, batch_id, reason, **options):
        try:
            batch = revoke_batch(batch_id, reason)
        except BallotError as error:
            raise CommandError(str(error.message)) from None
        self.stdout.write(f"Batch {batch.id} of poll {batch.poll_id} is revoked: its unused codes no longer work.")
