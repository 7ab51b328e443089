import json
from datetime import datetime

from django.core.management.base import BaseCommand, CommandError

from tallying import signing


class Command(BaseCommand):
    help = (
        "Print a key-rotation record, signed with the current SNAPSHOT_SIGNING_KEY, that hands over to "
        "the key in NEW_SEED_FILE from VALID_FROM; append it to the SNAPSHOT_KEY_ROTATIONS file "
        "(docs/verification.md, “Key rotation”)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--new-seed-file", required=True,
                            help="a file holding the new key's seed (the next SNAPSHOT_SIGNING_KEY value)")
        parser.add_argument("--valid-from", required=True, help="ISO 8601 time with a time zone")

    def handle(self, new_seed_file, valid_from, **options):
        try:
            moment = datetime.fromisoformat(valid_from)
        except ValueError:
            raise CommandError("--valid-from must be an ISO 8601 time, e.g. 2026-12-10T12:00:00+00:00") from None
        if moment.tzinfo is None:
            raise CommandError("--valid-from needs a time zone, e.g. +00:00")
        with open(new_seed_file, encoding="utf-8") as handle:
            try:
                new_key = signing.public_key_of_seed(handle.read())
            except ValueError as problem:
                raise CommandError(str(problem)) from None
        if new_key == signing.public_key_hex():
            raise CommandError("the new key is the current key")
        schedule = signing.key_schedule()
        if schedule.current != signing.public_key_hex():
            raise CommandError("the current key is not the last key of SNAPSHOT_KEY_ROTATIONS")
        self.stdout.write(json.dumps(signing.sign_rotation(new_key, moment), ensure_ascii=False))
