from django.core.management.base import BaseCommand, CommandError

from ballots.models import Poll
from ballots.services import issue_codes, write_codes_csv


class Command(BaseCommand):
    help = "Issue a batch of voting codes for a poll and write them to a CSV file (column 'code')."

    def add_arguments(self, parser):
        parser.add_argument("--poll", type=int, required=True)
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--out", required=True, help="CSV file to write; it holds codes in clear")

    def handle(self, *args, poll, count, out, **options):
        target = Poll.objects.filter(pk=poll).first()
        if target is None:
            raise CommandError(f"There is no poll {poll}.")
        if count < 1:
            raise CommandError("--count must be at least 1.")
        batch, issued = issue_codes(target, count)
        write_codes_csv(issued, out)
        self.stdout.write(f"Issued {len(issued)} codes for poll {poll} (batch {batch.id}) into {out}")
