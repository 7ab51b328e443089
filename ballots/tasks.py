"""Celery tasks of the ballots app: thin wrappers over services, each safe to run twice."""

from celery import shared_task

from . import registration, services


@shared_task(name="ballots.fill_batch", ignore_result=True)
def fill_batch(batch_id):
    """Issue a large batch chunk by chunk (idempotent: the batch row lock bounds it by its size)."""
    services.fill_batch(batch_id)


@shared_task(bind=True, name="ballots.mail_registration", ignore_result=True)
def mail_registration(self, token):
    """Mail a fresh code (or the polite "already sent") to the encrypted address in `token`.

    A code is sent once per pending mail, however often it is delivered or queued again (the
    worker claims the pending row first); a redelivered "already sent" notice is recognised by its
    task id (registration.deliver). Returns nothing, so the worker's log line holds nothing either.
    """
    registration.deliver(token, self.request.id)
