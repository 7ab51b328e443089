"""Refusals of the ballot services: a stable machine code, an HTTP status and a message."""

from django.utils.translation import gettext_lazy as _


class BallotError(Exception):
    code = "refused"
    status = 400
    message = _("Your ballot could not be accepted.")

    def __init__(self, message=None):
        if message is not None:
            self.message = message
        super().__init__(self.code)

    def __str__(self):
        return str(self.message)


class MalformedCode(BallotError):
    code = "code_malformed"
    status = 400
    message = _(
        "This does not look like a voting code. A code has 20 letters and digits, "
        "for example K7QM-2XWP-9HTR-4FZA-8B3D. Please check it and try again."
    )


class CodeUnknown(BallotError):
    code = "code_unknown"
    status = 403
    message = _("This voting code is not valid. Please check that you typed it correctly.")


class CodeForOtherPoll(BallotError):
    code = "code_other_poll"
    status = 403
    message = _("This voting code belongs to another region's referendum. Please choose that region.")


class CodeRevoked(BallotError):
    code = "code_revoked"
    status = 403
    message = _("This voting code has been withdrawn by the organizers and can no longer be used.")


class CodeAlreadyUsed(BallotError):
    code = "code_used"
    status = 409
    message = _("This code has already been used. Each code can vote only once.")


class BadOption(BallotError):
    code = "bad_option"
    status = 400
    message = _("Please choose one of the answers listed for this question.")


class PollNotFound(BallotError):
    code = "poll_not_found"
    status = 404
    message = _("There is no such referendum.")


class PollNotOpen(BallotError):
    code = "poll_not_open"
    status = 409
    message = _("Voting in this referendum has not started yet.")


class PollPaused(BallotError):
    code = "poll_paused"
    status = 409
    message = _("Voting in this referendum is paused for now. Please try again later.")


class PollClosed(BallotError):
    code = "poll_closed"
    status = 409
    message = _("Voting in this referendum is closed.")


class LifecycleError(BallotError):
    """A poll state change that the lifecycle does not allow; the message says why."""

    code = "lifecycle"
    status = 409
    message = _("This change is not possible in the poll's current state.")


class NotAllowed(BallotError):
    code = "not_allowed"
    status = 403
    message = _("You do not manage this region.")


class CodesGone(BallotError):
    """The codes in clear of a batch were handed out once already; no copy is left."""

    code = "codes_gone"
    status = 410
    message = _(
        "The codes of this batch were already downloaded once, and the server kept no copy. "
        "If that download was lost, revoke this batch and issue a new one."
    )


class RegistrationClosed(BallotError):
    code = "registration_closed"
    status = 403
    message = _("This referendum does not hand out voting codes by e-mail.")


class MalformedAddress(BallotError):
    code = "address_malformed"
    status = 400
    message = _("This does not look like an e-mail address. Please check it and try again.")


class DomainNotAccepted(BallotError):
    code = "address_domain_refused"
    status = 400
    message = _("Codes are not sent to addresses at this domain. Please use another e-mail address.")
