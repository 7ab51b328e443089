"""Queue again the registration mails the task queue lost (Redis restarted), with the offline
recovery identity.

    python manage.py resend_registration_mails --identity /media/usb/recovery-identity.txt
    python manage.py resend_registration_mails --identity - < identity.txt      # from standard input
    python manage.py resend_registration_mails --identity FILE --older-than-minutes 0   # all of them

Each first request for a code leaves a pending mail, sealed to PUBLICATION_RECOVERY_RECIPIENTS,
until a worker takes it to send it. This opens the pending mails queued more than the grace period
ago (by default longer than any mail waits in the queue on purpose: EMAIL_CODE_MAX_DELAY_SECONDS +
EMAIL_BUSY_DOMAIN_DELAY_SECONDS + 10 minutes) and queues each again. A mail that was not lost after
all, or one queued again twice, is still sent once: the worker that takes the pending row first
sends it, the others find nothing. Run it where the workers run (their database role reads the
pending mails). The identity is read, used in memory and never written anywhere; no address is
printed or logged.
"""

import sys
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ballots import keys, registration

EXTRA_GRACE_MINUTES = 10


def default_grace_minutes():
    waits = settings.EMAIL_CODE_MAX_DELAY_SECONDS + settings.EMAIL_BUSY_DOMAIN_DELAY_SECONDS
    return -(-waits // 60) + EXTRA_GRACE_MINUTES


class Command(BaseCommand):
    help = "Queue again the registration mails lost with the task queue, opened with the offline recovery identity."

    def add_arguments(self, parser):
        parser.add_argument("--identity", required=True, help="age identity file of the recovery key, or - for stdin")
        parser.add_argument(
            "--older-than-minutes", type=int, default=None, dest="older_than",
            help="only mails queued at least this long ago (default: the longest wait in the queue + 10; "
                 "0 for every pending mail, e.g. right after Redis was lost)",
        )

    def handle(self, *args, identity, older_than=None, **options):
        if older_than is None:
            older_than = default_grace_minutes()
        if older_than < 0:
            raise CommandError("--older-than-minutes must be 0 or more.")
        try:
            text = sys.stdin.read() if identity == "-" else open(identity).read()
        except OSError as error:
            raise CommandError(f"Cannot read the identity file: {error.strerror}.") from None
        try:
            queued, unopened = registration.resend_pending(text, timezone.now() - timedelta(minutes=older_than))
        except ValueError as error:
            raise CommandError(f"The recovery key does not open the pending mails: {error}.") from None
        except registration.MailUnavailable:
            raise CommandError("The task queue cannot be reached: stopped (run the command again later; "
                               "a mail queued twice is still sent once).") from None
        if unopened and not queued:
            raise CommandError(
                f"The recovery key does not open the pending mails: this identity opens none of {unopened}."
            )
        if not queued and not unopened and not keys.is_recovery_identity(text):
            raise CommandError("The recovery key does not open the pending mails: this identity is not one of "
                               "PUBLICATION_RECOVERY_RECIPIENTS.")
        self.stdout.write(f"{queued} registration mail(s) queued again.")
        if unopened:
            self.stdout.write(f"{unopened} pending mail(s) do not open with this identity (sealed to another "
                              "recovery key): not queued.")
