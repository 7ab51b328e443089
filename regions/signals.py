"""Signals of the regions app.

organizer_action is sent inside the transaction of every region or account change. The public
audit log lives in ballots (which depends on regions, never the reverse), so ballots listens and
writes the entry in the same transaction. Arguments: role, pseudonym (who acted), action, detail.
"""

from django.dispatch import Signal

organizer_action = Signal()
