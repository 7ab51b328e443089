from django.core.management.base import BaseCommand

from ballots.demo import ensure_demo_codes, ensure_demo_organizers, seed_demo_polls


class Command(BaseCommand):
    help = "Create the five regions, an open demo poll in each, and demo voting codes (idempotent)."

    def handle(self, *args, **options):
        polls = seed_demo_polls()
        path, count = ensure_demo_codes(polls)
        self.stdout.write(f"{len(polls)} regional polls ready.")
        self.stdout.write(f"Demo voting codes ({count} unused): {path}")
        self.stdout.write(f"Demo organizer logins (console at /console/): {ensure_demo_organizers()}")
