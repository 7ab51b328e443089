from django.core.management.base import BaseCommand, CommandError

from ballots.errors import BallotError, PollNotFound


class StateCommand(BaseCommand):
    service = None
    verb = ""

    def add_arguments(self, parser):
        parser.add_argument("poll_id", type=int)

    def handle(self, *args, poll_id, **options):
        try:
            poll = self.change(poll_id, options)
        except PollNotFound:
            raise CommandError(f"There is no poll {poll_id}.") from None
        except BallotError as error:
            raise CommandError(str(error.message)) from None
        self.stdout.write(f"Poll {poll.id} ({poll.region.slug}) is now {poll.state}.")

    def change(self, poll_id, options):
        return type(self).service(poll_id)
