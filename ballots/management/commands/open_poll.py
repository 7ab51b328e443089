from ballots.services import open_poll

from ._state import StateCommand


class Command(StateCommand):
    help = "Open a poll now (ballots are accepted while the clock is inside its window)."
    service = open_poll
