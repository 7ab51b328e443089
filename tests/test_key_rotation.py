"""Key rotation: the old key signs a statement handing over to the new key from a time; the
server signs only with the key in force; exports carry the rotations; the verifier takes the
key(s) you trust and follows rotations signed by them."""

import base64
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tallying import signing
from tallying.services import seal_poll
from tests.exports import encode, export_lines, records, verify, write_export
from tests.factories import make_poll
from tests.sealing import insert_ballots

pytestmark = pytest.mark.django_db

OLD_SEED = base64.urlsafe_b64encode(bytes(range(32))).decode()
NEW_SEED = base64.urlsafe_b64encode(bytes(range(100, 132))).decode()
OLD_KEY, NEW_KEY = signing.public_key_of_seed(OLD_SEED), signing.public_key_of_seed(NEW_SEED)


@pytest.fixture
def rotated(settings, tmp_path, capsys):
    """Two publications under the old key, a rotation valid from just after them, two under the new."""
    settings.SNAPSHOT_SIGNING_KEY = OLD_SEED
    poll = make_poll()
    for _ in range(2):
        insert_ballots(poll, 3)
        seal_poll(poll.id)
    seed_file = tmp_path / "new.key"
    seed_file.write_text(NEW_SEED)
    switch = timezone.now() + timedelta(milliseconds=1)
    call_command("sign_key_rotation", "--new-seed-file", str(seed_file), "--valid-from", switch.isoformat())
    rotations = tmp_path / "rotations.jsonl"
    rotations.write_text(capsys.readouterr().out)
    settings.SNAPSHOT_KEY_ROTATIONS = str(rotations)
    settings.SNAPSHOT_SIGNING_KEY = NEW_SEED
    for _ in range(2):
        insert_ballots(poll, 3)
        seal_poll(poll.id)
    return {"poll": poll, "lines": export_lines(poll), "rotations": rotations, "switch": switch}


def test_rotation_is_published_and_the_export_verifies_from_the_first_key(rotated, tmp_path):
    published = Client().get("/api/v1/public-key").json()
    assert published["public_key"] == NEW_KEY and len(published["rotations"]) == 1
    rotation = json.loads(published["rotations"][0]["statement"])
    assert rotation == {"format": 2, "kind": "key-rotation", "old_key": OLD_KEY, "new_key": NEW_KEY,
                        "valid_from": rotated["switch"].isoformat()}
    recs = records(rotated["lines"])
    assert recs[1]["type"] == "key-rotation" and recs[0]["public_key"] == NEW_KEY
    path = write_export(tmp_path / "poll.jsonl", rotated["lines"])
    for keys in ([OLD_KEY], [OLD_KEY, NEW_KEY]):
        code, output = verify(path, *[arg for key in keys for arg in ("--public-key", key)])
        assert code == 0 and "4 signed statements verified" in output, output


def test_only_the_new_key_is_not_enough(rotated, tmp_path):
    code, output = verify(write_export(tmp_path / "poll.jsonl", rotated["lines"]), "--public-key", NEW_KEY)
    assert code == 1 and "another public key than the one(s) you gave (its first key" in output, output


def test_a_statement_signed_by_the_old_key_after_the_switch_fails(rotated, tmp_path, settings):
    recs = records(rotated["lines"])
    last = max(i for i, r in enumerate(recs) if r["type"] == "snapshot")
    settings.SNAPSHOT_KEY_ROTATIONS = ""
    settings.SNAPSHOT_SIGNING_KEY = OLD_SEED
    recs[last]["signature"] = signing.sign(json.loads(recs[last]["statement"]))[1]
    code, output = verify(write_export(tmp_path / "poll.jsonl", encode(recs)), "--public-key", OLD_KEY)
    assert code == 1 and "snapshot 4 (line 6): the signature does not verify" in output, output


def test_a_rotation_not_signed_by_the_old_key_fails(rotated, tmp_path):
    recs = records(rotated["lines"])
    forged = json.loads(recs[1]["statement"])
    recs[1]["signature"] = signing._private_key(NEW_SEED).sign(signing.canonical(forged)).hex()
    code, output = verify(write_export(tmp_path / "poll.jsonl", encode(recs)), "--public-key", OLD_KEY)
    assert code == 1 and "check 15, key rotation 1 (line 2): the signature does not verify with the key it hands over from" \
        in output, output


def test_the_server_signs_only_with_the_key_in_force(rotated, settings):
    settings.SNAPSHOT_SIGNING_KEY = OLD_SEED  # restarted with the old key after the switch
    insert_ballots(rotated["poll"], 3)
    with pytest.raises(signing.KeyNotInForce):
        seal_poll(rotated["poll"].id)
