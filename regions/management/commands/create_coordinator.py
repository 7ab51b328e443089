from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from regions.services import AccountError, create_coordinator


class Command(BaseCommand):
    help = (
        "Create a coordinator account (e.g. the first one of a deployment) and print its one-time "
        "link: with it the coordinator sets a password and enrolls an authenticator app."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument(
            "--site-url", default=settings.SITE_URL,
            help=f"the site's public address for the link (default: SITE_URL, now {settings.SITE_URL})",
        )

    def handle(self, *args, username, site_url, **options):
        try:
            organizer, token = create_coordinator(username)
        except AccountError as error:
            raise CommandError(str(error.message)) from None
        link = f"{site_url.rstrip('/')}{reverse('console-welcome')}?token={token}"
        self.stdout.write(
            f"Coordinator {organizer.user.username} created (public pseudonym {organizer.pseudonym}).\n"
            f"One-time link, valid for {settings.ENROLMENT_LINK_HOURS} hours; send it only through a channel you trust:\n"
            f"{link}"
        )
