from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ballots.queries import public_polls
from tallying import queries, signing
from tallying.api import jsonl_line


class Command(BaseCommand):
    help = (
        "Write each public poll's export (what /api/v1/polls/<id>/export serves) to FOLDER/poll-<id>.jsonl, "
        "e.g. from a restored backup, for `python -m tallying.verify FOLDER`."
    )

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("--poll", type=int, action="append", help="only this poll (repeatable)")

    def handle(self, folder, poll=None, **options):
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        polls = public_polls().filter(pk__in=poll) if poll else public_polls()
        if poll and len(polls) != len(set(poll)):
            raise CommandError("No such public poll among: " + ", ".join(map(str, poll)))
        key = signing.public_key_hex()
        for each in polls:
            path = out / f"poll-{each.id}.jsonl"
            with open(path, "wb") as file:
                for line in queries.export_lines(each, key, jsonl_line):
                    file.write(line)
            self.stdout.write(f"{path}")
