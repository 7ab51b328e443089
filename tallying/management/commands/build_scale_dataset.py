import json
import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from ballots.models import AuditEntry, Poll
from tallying.scale_dataset import Builder

RESETTABLE_PREFIXES = ("ref_bench", "test_")


class Command(BaseCommand):
    help = (
        "Fill an empty database with a referendum-sized data set for measuring pages (issue 13): five open "
        "polls, 2,000,000 codes, 1,000,000 published ballots over 90 days, a few waiting, a few thousand "
        "audit entries, a coordinator and one organizer per region (at --scale 1). Never on a real database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="1.0 = the full size; e.g. 0.002 for a test")
        parser.add_argument("--seed", type=int, default=13)
        parser.add_argument("--password", default="scale benchmark password 2026",
                            help="password of every organizer account made")
        parser.add_argument("--output", help="also write the accounts, polls and real codes to this JSON file")
        parser.add_argument("--reset", action="store_true",
                            help="empty the database first (only one named ref_bench… or test_…)")
        parser.add_argument("--i-know-this-is-not-production", action="store_true", dest="not_production",
                            help="run with DEBUG off (e.g. to measure the production settings)")

    def handle(self, *args, scale, seed, password, output, reset, not_production, **options):
        if not settings.DEBUG and not not_production:
            raise CommandError("build_scale_dataset makes fake polls and accounts: it runs only with DEBUG=1 or "
                               "--i-know-this-is-not-production.")
        if not 0 < scale <= 10:
            raise CommandError("--scale must be above 0 and at most 10.")
        name = connection.settings_dict["NAME"] or ""
        if reset:
            if not name.startswith(RESETTABLE_PREFIXES):
                raise CommandError(f"--reset empties only a database named ref_bench… or test_…, not {name!r}.")
            call_command("flush", interactive=False, verbosity=0)
        elif Poll.objects.exists():
            raise CommandError(f"The database {name!r} already holds polls: build_scale_dataset fills only an empty "
                               "one (or use --reset on a ref_bench… database).")
        started = time.monotonic()
        polls, accounts = Builder(scale=scale, seed=seed, password=password, out=self.stdout.write).build()
        elapsed = time.monotonic() - started
        summary = {
            "scale": scale,
            "seconds": round(elapsed, 1),
            "password": password,
            "accounts": accounts,
            "audit_entries": AuditEntry.objects.count(),
            "polls": [
                {"id": b.poll.id, "region": b.poll.region.slug, "options": [o.id for o in b.options],
                 "ballots": b.ballots, "waiting": b.waiting, "publications": b.publications,
                 "codes": sum(size for _b, size, _u in b.batches), "batches": [batch for batch, _s, _u in b.batches],
                 "real_codes": b.real_codes}
                for b in polls
            ],
        }
        for account in accounts:
            self.stdout.write(f"account {account['username']} ({account['role']}"
                              f"{', ' + account['region'] if account['region'] else ''}): password {password!r}, "
                              f"TOTP key (hex) {account['totp_key']}")
        for poll in summary["polls"]:
            self.stdout.write(f"real unused codes of poll {poll['id']} ({poll['region']}): {', '.join(poll['real_codes'])}")
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                json.dump(summary, handle, ensure_ascii=False, indent=1)
        self.stdout.write(f"Built in {elapsed:.1f} s.")
