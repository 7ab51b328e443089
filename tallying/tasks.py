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


@shared_task(name="tallying.mirror_tick")
def mirror_tick():
    """Beat runs this every MIRROR_INTERVAL_SECONDS (when MIRROR_TARGETS is set): after a new
    publication the signed bundle is built and a push enqueued per target (tallying/mirrors.py)."""
    from . import mirrors

    return mirrors.tick(push_mirror.delay)


@shared_task(name="tallying.push_mirror", bind=True, max_retries=10, acks_late=True)
def push_mirror(self, target):
    """Push the current bundle to one target; a failure is counted on /metrics and retried with
    exponential backoff (10 s, 20 s, … up to 10 min). Safe to run twice: a push writes the whole
    current bundle, switched or uploaded manifest last."""
    from . import mirrors

    try:
        mirrors.push_target(target)
    except Exception as error:
        if self.request.retries >= self.max_retries:
            mirrors.give_up_push(target)
            raise
        countdown = 1 if isinstance(error, mirrors.MirrorBusy) else min(600, 10 * 2**self.request.retries)
        raise self.retry(exc=error, countdown=countdown) from error


@shared_task(name="tallying.publish_final")
def publish_final_task(poll_id, role, pseudonym):
    """A coordinator's "publish the final result" where web nodes may not write publications
    (DATABASE_SEALER_ROLE): the sealer does it. Safe to run twice (a second final is refused)."""
    from ballots.services import Actor

    try:
        services.publish_final(poll_id, Actor(role=role, pseudonym=pseudonym))
    except services.PublishRefused:
        pass  # already published (by the periodic run, which publishes closed polls' results too)
