"""Secrets only where they are used (issue 18): a web node runs with the statements' public key and
no private signing key; it casts, serves the key and exports that verify, and cannot sign."""

import json

import pytest

from ballots.services import cast_ballot
from tallying import signing
from tallying.services import seal_poll
from tests.exports import verify
from tests.factories import make_codes, make_poll
from tests.live import fetch, production_server

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_web_node_without_the_signing_key_serves_what_verifies(tmp_path, settings):
    poll = make_poll()
    voting_codes = make_codes(poll, 3)
    public = signing.public_key_hex()
    with production_server(tmp_path, SNAPSHOT_SIGNING_KEY="", SNAPSHOT_PUBLIC_KEY=public) as (base, log):
        status, _headers, body = fetch(f"{base}/api/v1/polls/{poll.id}/ballots", data=json.dumps(
            {"code": voting_codes[0], "option": poll.options.first().id}).encode(),
            headers={"Content-Type": "application/json"})
        assert status == 201, body
        cast_ballot(poll.id, voting_codes[1], poll.options.last().id)
        assert seal_poll(poll.id) == 2  # the sealer (here the test process) signs
        status, _headers, export = fetch(f"{base}/api/v1/polls/{poll.id}/export")
        assert status == 200
        assert json.loads(export.splitlines()[0])["public_key"] == public
        (tmp_path / "export.ndjson").write_bytes(export)
        code, output = verify(tmp_path / "export.ndjson")
        assert code == 0, output
    settings.SNAPSHOT_SIGNING_KEY, settings.SNAPSHOT_PUBLIC_KEY = "", public
    with pytest.raises(signing.NoSigningKey):
        signing.sign({"format": 2})
