"""The runbook's commands (docs/operations.md): pause and resume a poll, revoke a leaked batch."""

import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from ballots.models import AuditEntry, Poll
from ballots.services import issue_codes
from tests.factories import make_poll


def cast(poll, code):
    return Client().post(f"/api/v1/polls/{poll.id}/ballots", content_type="application/json",
                         data=json.dumps({"code": code, "option": poll.options.first().id}))


@pytest.mark.django_db
def test_pause_and_resume_poll(capsys):
    poll = make_poll()
    _batch, codes = issue_codes(poll, 2)
    with pytest.raises(CommandError):
        call_command("pause_poll", str(poll.id), "--reason", "   ")
    call_command("pause_poll", str(poll.id), "--reason", "bot wave from one proxy")
    assert "is now paused" in capsys.readouterr().out
    assert Poll.objects.get(pk=poll.pk).state == Poll.State.PAUSED
    assert cast(poll, codes[0]).json()["error"] == "poll_paused"
    assert AuditEntry.objects.get(poll=poll, action=AuditEntry.Action.PAUSE).reason == "bot wave from one proxy"
    call_command("resume_poll", str(poll.id))
    assert cast(poll, codes[0]).status_code == 201


@pytest.mark.django_db
def test_revoke_batch(capsys):
    poll = make_poll()
    leaked, leaked_codes = issue_codes(poll, 3)
    _kept, kept_codes = issue_codes(poll, 1)
    assert cast(poll, leaked_codes[0]).status_code == 201
    call_command("revoke_batch", str(leaked.id), "--reason", "printed cards photographed")
    assert f"Batch {leaked.id} of poll {poll.id} is revoked" in capsys.readouterr().out
    assert cast(poll, leaked_codes[1]).json()["error"] == "code_revoked"
    assert cast(poll, kept_codes[0]).status_code == 201
    with pytest.raises(CommandError, match="already revoked"):
        call_command("revoke_batch", str(leaked.id), "--reason", "again")
