from celery import shared_task

from referendum.health import record_sealing_run

from . import services


@shared_task(name="tallying.seal_poll")
def seal_poll_task(poll_id):
    """Seal one poll until it is caught up. Safe to run twice: see services.seal_poll."""
    return services.seal_until_caught_up(poll_id)


@shared_task(name="tallying.seal_open_polls")
def seal_open_polls():
    """Beat runs this every SEAL_INTERVAL_SECONDS: every poll with unsealed ballots is sealed."""
    return record_sealing_run(services.seal_all_polls)  # + heartbeat and run metrics
