"""Celery tasks of the ballots app: thin wrappers over services, each safe to run twice."""

from celery import shared_task
from django.core.cache import cache

from . import registration, services

# How long a delivered registration task is remembered, so a redelivery mails nothing twice
# (Redis redelivers unacknowledged tasks after its visibility timeout, one hour).
DELIVERED_MEMORY_SECONDS = 2 * 24 * 3600


@shared_task(name="ballots.fill_batch", ignore_result=True)
def fill_batch(batch_id):
    """Issue a large batch chunk by chunk (idempotent: the batch row lock bounds it by its size)."""
    services.fill_batch(batch_id)


@shared_task(bind=True, name="ballots.mail_registration", ignore_result=True)
def mail_registration(self, token):
    """Mail a fresh code (or the polite "already sent") to the encrypted address in `token`.

    A redelivered task finds its id remembered in the cache and does nothing: better, in the rare
    case of a worker dying mid-task, one voter without a mail than one address with two codes.
    Returns nothing, so the worker's log line holds nothing either.
    """
    if cache.add(f"registration-mail:{self.request.id}", 1, timeout=DELIVERED_MEMORY_SECONDS) is False:
        return
    registration.deliver(token)
