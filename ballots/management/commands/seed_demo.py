from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ballots.demo import ensure_demo_codes, ensure_demo_organizers, seed_demo_polls


class Command(BaseCommand):
    help = "Create the five regions, an open demo poll in each, and demo voting codes (idempotent)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            # It resets the demo "coordinator" account's password and TOTP: never on a real site.
            raise CommandError("seed_demo only runs with DEBUG=1: demo polls, codes and accounts are for development.")
        polls = seed_demo_polls()
        path, count = ensure_demo_codes(polls)
        self.stdout.write(f"{len(polls)} regional polls ready.")
        self.stdout.write(f"Demo voting codes ({count} unused): {path}")
        self.stdout.write(f"Demo organizer logins (console at /console/): {ensure_demo_organizers()}")
