from ballots.services import pause_poll

from ._state import StateCommand


class Command(StateCommand):
    help = "Emergency stop: the poll accepts no ballot until resume_poll. The reason is published in the audit log."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--reason", required=True, help="why (published in the public audit log)")

    def change(self, poll_id, options):
        return pause_poll(poll_id, options["reason"])
