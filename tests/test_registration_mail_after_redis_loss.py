"""A registration mail lost with Redis (issue 18): the broker dies, restarted empty, before the worker
ran the voter's task. The voter's next request only gets "already sent"; the operator's
`resend_registration_mails` with the offline identity queues the lost mail again, and the voter gets
exactly one code, however often the command runs or the mail is delivered.

Every process is real: the private Redis is the broker (SIGKILLed), the requests run as the web role
in processes of their own, the worker and the command as the workers' role, and the worker mails
to files the test reads."""

import email
import subprocess
import sys
import time

import pytest
import redis

from ballots import keys
from ballots.models import Credential, EmailRegistration, PendingMail
from ballots.services import set_email_registration
from tests.factories import make_poll
from tests.redis_process import private_redis
from tests.test_email_registration import CODE_RE
from tests.workers import ROOT, celery_process, child_env, sealer_database_url

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ADDRESS = "lost.in.redis+ref@example.org"
ASK = (
    "from ballots.models import Poll; from ballots.registration import request_code;"
    " request_code(Poll.objects.get(pk={poll}), {address!r}, 'http://testserver/polls/{poll}/')"
)


def run(env, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def ask(env, poll, address=ADDRESS, **extra):
    """The voter's request, as a web node makes it (the web role, its own process)."""
    result = run({**env, **extra}, "shell", "-c", ASK.format(poll=poll.id, address=address))
    assert result.returncode == 0, result.stdout + result.stderr


def resend(env, identity, *args):
    """The operator's command, run where the workers run (their database role)."""
    return run({**env, "DATABASE_URL": sealer_database_url()}, "resend_registration_mails", "--identity",
               str(identity), *args)


def mails(folder):
    """(kind, to, body) of every mail the worker wrote to the folder, oldest first."""
    found = []
    for path in sorted(folder.glob("*.log"), key=lambda p: p.stat().st_mtime_ns):
        for raw in path.read_bytes().split(b"-" * 79):
            if raw.strip():
                message = email.message_from_bytes(raw.strip())
                body = message.get_payload(decode=True).decode()
                kind = "code" if CODE_RE.search(body) else "already" if "already received its code" in body else "?"
                found.append((kind, message["To"], body))
    return found


def wait_for(folder, count, worker_log, seconds=60):
    deadline = time.monotonic() + seconds
    while len(mails(folder)) < count:
        assert time.monotonic() < deadline, worker_log.read_text()[-3000:]
        time.sleep(0.2)
    time.sleep(1)  # and nothing more arrives
    return mails(folder)


def test_a_mail_lost_with_redis_is_resent_once_with_the_offline_identity(tmp_path):
    poll = make_poll()
    set_email_registration(poll.id, True)
    outbox = tmp_path / "outbox"
    identity = tmp_path / "identity.txt"
    identity.write_text(keys.development_recovery_identity()[0])
    worker_args = ("worker", "-P", "solo", "--without-mingle", "--without-gossip", "-l", "INFO")

    with private_redis(tmp_path) as (url, restart_empty):
        env = child_env(REDIS_URL=url, EMAIL_CODE_MAX_DELAY_SECONDS="0")
        worker_env = {"REDIS_URL": url, "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
                      "EMAIL_FILE_PATH": str(outbox)}

        ask(env, poll, EMAIL_CODE_MAX_DELAY_SECONDS="600")  # waits in the queue up to ten minutes
        assert redis.Redis.from_url(url).llen("celery") == 1
        restart_empty()  # SIGKILL: the queued mail is gone with the broker
        assert redis.Redis.from_url(url).llen("celery") == 0

        ask(env, poll, address=" Lost.In.Redis+REF@Example.org")  # the voter asks again
        with celery_process(*worker_args, log_path=tmp_path / "worker1.log", **worker_env):
            sent = wait_for(outbox, 1, tmp_path / "worker1.log")
        assert [(kind, to) for kind, to, _body in sent] == [("already", ADDRESS)]  # the bug: no code, ever
        assert Credential.objects.filter(poll=poll).count() == 0
        assert EmailRegistration.objects.filter(poll=poll).count() == 1

        # The operator resends, twice, before a worker runs: two queue entries for one pending mail.
        for _ in range(2):
            result = resend(env, identity, "--older-than-minutes", "0")
            assert result.returncode == 0, result.stdout + result.stderr
            assert "1 registration mail(s) queued again" in result.stdout
            assert ADDRESS not in result.stdout + result.stderr and "lost.in.redis" not in result.stdout + result.stderr
        assert redis.Redis.from_url(url).llen("celery") == 2
        # Within the default grace period a mail may still be waiting in the queue: not resent.
        result = resend(env, identity)
        assert result.returncode == 0 and "0 registration mail(s) queued again" in result.stdout

        with celery_process(*worker_args, log_path=tmp_path / "worker2.log", **worker_env):
            sent = wait_for(outbox, 2, tmp_path / "worker2.log")
            deadline = time.monotonic() + 30
            while redis.Redis.from_url(url).llen("celery") and time.monotonic() < deadline:
                time.sleep(0.2)
            time.sleep(2)  # the second queue entry was taken and did nothing
            assert len(mails(outbox)) == 2
            result = resend(env, identity, "--older-than-minutes", "0")  # nothing pending any more
            assert result.returncode == 0 and "0 registration mail(s) queued again" in result.stdout

    kind, to, body = sent[1]
    assert (kind, to) == ("code", ADDRESS)
    assert len(CODE_RE.findall(body)) == 1
    assert Credential.objects.filter(poll=poll).count() == 1  # exactly one code issued
    assert not PendingMail.objects.exists()
    worker_logs = (tmp_path / "worker1.log").read_text() + (tmp_path / "worker2.log").read_text()
    assert "lost.in.redis" not in worker_logs.lower()
