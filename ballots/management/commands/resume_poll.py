from ballots.services import resume_poll

from ._state import StateCommand


class Command(StateCommand):
    help = "Resume a paused poll: ballots are accepted again while its window is open."
    service = resume_poll
