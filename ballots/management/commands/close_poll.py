from ballots.services import close_poll

from ._state import StateCommand


class Command(StateCommand):
    help = "Close a poll now: no ballot is accepted after this."
    service = close_poll
