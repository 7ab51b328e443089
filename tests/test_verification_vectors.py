"""The test vectors of docs/verification.md (docs/vectors/): a small sample export made by the real
app with a published test key (7 entries, two publications and a final result), and vectors for
canonical JSON, the definition hash, entries 1 and 2 and one signature. The checks here use
hashlib and cryptography directly where they can, as another implementation would; the sample
must keep the format the app writes today, and the walk-through's tamper commands run on it.

Regenerate after a deliberate format change:
    REGENERATE_VECTORS=1 make test PYTEST_ARGS=tests/test_verification_vectors.py
"""

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.utils import timezone

from ballots import codes
from ballots.models import CodeBatch, Option, Poll
from ballots.services import OPERATOR, _insert_codes, cast_ballot, close_poll
from tallying import ledger
from tallying.canonical import canonical
from tallying.services import publish_final, seal_poll
from tests.exports import OBSERVER_ENV, export_lines, records
from tests.factories import make_region
from tests.workers import ROOT

VECTORS = ROOT / "docs" / "vectors"
SAMPLE = VECTORS / "sample-export.jsonl"
SAMPLE_SEED = hashlib.sha256(b"referendum: the verification sample key, never for a real poll").digest()
DOC = (ROOT / "docs" / "verification.md").read_text(encoding="utf-8")

# Values whose canonical form another implementation most easily gets wrong.
CANONICAL_CASES = [
    {"2": "b", "10": "a", "a": 1, "B": 2, "é": 3, "\uffff": 4, "😀": 5},
    {"text": "quote \" backslash \\ slash / tab \t newline \n nul \x00 unit \x1f del \x7f line \u2028 Я 😀"},
    {"numbers": [0, -1, 9007199254740991, -9007199254740991], "bools": [True, False, None], "empty": [{}, [], ""]},
]


def build_sample(settings):
    """The sample poll, as the app publishes it: 8 codes, casts of 3, 3 and 1, K = 3."""
    settings.SNAPSHOT_SIGNING_KEY = base64.urlsafe_b64encode(SAMPLE_SEED).decode()
    settings.SNAPSHOT_KEY_ROTATIONS = ""
    settings.PUBLISH_MIN_BALLOTS = 3
    now = timezone.now()
    poll = Poll.objects.create(
        id=7, region=make_region(), state=Poll.State.DRAFT, opens_at=now - timezone.timedelta(minutes=1),
        closes_at=now + timezone.timedelta(days=1),
        question_en='Do you support the "independence" of Siberia?',
        question_ru="Поддерживаете ли вы «независимость» Сибири?",
    )
    Option.objects.create(id=2, poll=poll, label_en="Yes", label_ru="Да", ordering=0)
    Option.objects.create(id=10, poll=poll, label_en="No", label_ru="Нет", ordering=1)
    poll.state = Poll.State.OPEN
    poll.save(update_fields=["state"])
    batch = CodeBatch.objects.create(id=3, poll=poll, size=8, issued=8, delivered_at=now)
    issued = iter(_insert_codes(batch, 8))
    trackers = {}
    for answers in ([2, 2, 10], [10, 2, 2], [2]):
        for answer in answers:
            tracker = cast_ballot(poll.id, next(issued), answer)
            trackers[codes.hash_tracker(codes.normalize_tracker(tracker)).hex()] = tracker
        seal_poll(poll.id)
    close_poll(poll.id)
    publish_final(poll.id, OPERATOR)
    return poll, export_lines(poll), trackers


def shape(lines):
    """The format of an export without its values: record types and keys, statement keys."""
    out = []
    for record in records(lines):
        item = [record["type"], sorted(record)]
        if record["type"] == "snapshot":
            statement = json.loads(record["statement"])
            item += [sorted(statement), sorted(statement["definition"]),
                     sorted(next(iter(statement["batches"].values())))]
        if record["type"] == "poll":
            item += [sorted(record["definition"]), sorted(record["definition"]["answers"][0])]
        out.append(item)
    return out


@pytest.mark.django_db
def test_sample_has_the_format_the_app_writes(settings):
    poll, lines, trackers = build_sample(settings)
    if os.environ.get("REGENERATE_VECTORS"):
        write_vectors(lines, trackers)
    assert shape(SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)) == shape(lines)


def write_vectors(lines, trackers):
    VECTORS.mkdir(exist_ok=True)
    SAMPLE.write_text("".join(lines), encoding="utf-8")
    recs = records(lines)
    header, entries = recs[0], [r for r in recs if r["type"] == "entry"]
    snapshot = next(r for r in recs if r["type"] == "snapshot")
    first = entries[0]
    vectors = {
        "about": "Test vectors for docs/verification.md. The seed is published: never use it for a real poll.",
        "key": {"seed": SAMPLE_SEED.hex(), "public_key": header["public_key"]},
        "canonical": [
            {"value": value, "canonical": canonical(value).decode("utf-8"), "utf8_hex": canonical(value).hex()}
            for value in CANONICAL_CASES
        ],
        "definition": {
            "value": header["definition"],
            "canonical": canonical(header["definition"]).decode("utf-8"),
            "hash": ledger.definition_hash(header["definition"]).hex(),
        },
        "tracker": {"tracker": trackers[first["tracker_hash"]], "tracker_hash": first["tracker_hash"]},
        "entries": [
            {
                **{k: e[k] for k in ("position", "poll", "option", "tracker_hash", "prev_hash")},
                "hashed": (bytes.fromhex(e["prev_hash"]) + e["position"].to_bytes(8, "big")
                           + e["poll"].to_bytes(8, "big") + e["option"].to_bytes(8, "big")
                           + bytes.fromhex(e["tracker_hash"])).hex(),
                "entry_hash": e["entry_hash"],
            }
            for e in entries[:2]
        ],
        "statement": {"text": snapshot["statement"], "signature": snapshot["signature"]},
    }
    (VECTORS / "vectors.json").write_text(json.dumps(vectors, indent=1) + "\n", encoding="utf-8")


@pytest.fixture(scope="module")
def vectors():
    return json.loads((VECTORS / "vectors.json").read_text(encoding="utf-8"))


def test_canonical_json_vectors(vectors):
    for case in vectors["canonical"]:
        assert canonical(case["value"]).decode("utf-8") == case["canonical"]
        assert case["canonical"].encode("utf-8").hex() == case["utf8_hex"]
    assert vectors["canonical"][0]["canonical"] == '{"10":"a","2":"b","B":2,"a":1,"é":3,"\uffff":4,"😀":5}'
    assert vectors["canonical"][1]["canonical"] == (
        '{"text":"quote \\" backslash \\\\ slash / tab \\t newline \\n nul \\u0000 unit \\u001f del \x7f line '
        '\u2028 Я 😀"}'
    )


def test_definition_and_entry_vectors(vectors):
    definition = vectors["definition"]
    assert canonical(definition["value"]).decode("utf-8") == definition["canonical"]
    assert hashlib.sha256(definition["canonical"].encode("utf-8")).hexdigest() == definition["hash"]
    tracker = vectors["tracker"]
    assert hashlib.sha256(tracker["tracker"].replace("-", "").encode()).hexdigest() == tracker["tracker_hash"]
    one, two = vectors["entries"]
    assert one["position"] == 1 and one["prev_hash"] == definition["hash"]  # genesis version 2
    assert two["position"] == 2 and two["prev_hash"] == one["entry_hash"]
    for entry in (one, two):
        hashed = bytes.fromhex(entry["hashed"])
        assert len(hashed) == 88 and hashed[:32].hex() == entry["prev_hash"]
        assert hashlib.sha256(hashed).hexdigest() == entry["entry_hash"]
        assert ledger.entry_hash(bytes.fromhex(entry["prev_hash"]), entry["position"], entry["poll"], entry["option"],
                                 bytes.fromhex(entry["tracker_hash"])).hex() == entry["entry_hash"]


def test_signature_vector_is_pure_ed25519(vectors):
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(vectors["key"]["seed"]))
    statement = vectors["statement"]
    # Ed25519 (RFC 8032, no pre-hash, no context) is deterministic: the same bytes, the same signature.
    assert key.sign(statement["text"].encode("utf-8")).hex() == statement["signature"]
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(vectors["key"]["public_key"])).verify(
        bytes.fromhex(statement["signature"]), statement["text"].encode("utf-8"))
    assert canonical(json.loads(statement["text"])).decode("utf-8") == statement["text"]


def observer(*args, cwd):
    """The verifier run as the document runs it, from a folder of one's own."""
    result = subprocess.run(["python3", "-m", "tallying.verify", *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, env={**OBSERVER_ENV, "PYTHONPATH": str(ROOT)}, timeout=60)
    return result.returncode, (result.stdout + result.stderr).strip()


def test_sample_export_verifies(vectors):
    code, output = observer("docs/vectors/sample-export.jsonl", "--public-key", vectors["key"]["public_key"],
                            cwd=ROOT)
    assert code == 0, output
    assert "7 entries" in output and "3 signed statements verified, final result covers the whole ledger" in output
    assert "codes (last statement): 8 issued, 7 used (batch 3: 7 used of 8)" in output
    assert output in DOC, "docs/verification.md shows the verifier's output on the sample as it is"


TAMPERS = re.findall(r"^\$ (sed -i .*? sample\.jsonl)$", DOC, flags=re.MULTILINE)


def test_the_walk_through_has_tamper_commands():
    assert len(TAMPERS) >= 5


@pytest.mark.parametrize("command", TAMPERS)
def test_tamper_commands_of_the_walk_through_fail_verification(tmp_path, vectors, command):
    """Each `sed` in docs/verification.md, run on a copy of the sample, changes the file, and the
    verifier fails with the message the document shows right after it."""
    shutil.copy(SAMPLE, tmp_path / "sample.jsonl")
    subprocess.run(command, shell=True, cwd=tmp_path, check=True, env=OBSERVER_ENV)
    assert (tmp_path / "sample.jsonl").read_bytes() != SAMPLE.read_bytes(), f"{command} changed nothing"
    code, output = observer("sample.jsonl", "--public-key", vectors["key"]["public_key"], cwd=tmp_path)
    assert code == 1, output
    shown = DOC.split(command, 1)[1].split("```", 1)[0]
    assert output == next(line for line in shown.splitlines() if line.startswith("FAIL ")), output


# --- The check vectors: docs/vectors/manifest.json ------------------------------------------------

MANIFEST = json.loads((VECTORS / "manifest.json").read_text(encoding="utf-8"))


def test_the_manifest_covers_every_numbered_check():
    """At least one file fails at each check of the spec's list, and valid edge cases pass."""
    listed = {int(n) for n in re.findall(r"^\| (\d+) \|", DOC, flags=re.MULTILINE)}
    failing = {v["check"] for v in MANIFEST["vectors"] if v["verdict"] == "fail"}
    assert set(range(1, 55)) <= listed, sorted(set(range(1, 55)) - listed)  # 55 is unused; 56-60: --against
    assert listed - set(range(56, 61)) <= failing, sorted(listed - failing)
    assert {"key-rotation", "times-in-other-offsets", "genesis-v1-format-1-statements"} <= {
        v["file"].split("/")[1].removesuffix(".jsonl") for v in MANIFEST["vectors"] if v["verdict"] == "pass"}


def test_the_vectors_are_what_the_script_writes(tmp_path):
    """docs/vectors/make_vectors.py regenerates every file byte for byte (Ed25519 is deterministic)."""
    subprocess.run(["python3", str(VECTORS / "make_vectors.py"), str(tmp_path)], check=True, timeout=120,
                   env={**OBSERVER_ENV, "PYTHONPATH": str(ROOT)})
    for vector in MANIFEST["vectors"]:
        assert (tmp_path / vector["file"]).read_bytes() == (VECTORS / vector["file"]).read_bytes(), vector["file"]
    assert json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8")) == MANIFEST


@pytest.mark.parametrize("vector", MANIFEST["vectors"], ids=lambda v: v["file"])
def test_vector(vector):
    """Our verifier, as another verifier would run it: --json, one object per file."""
    args = [str(VECTORS / vector["file"]), "--json"]
    for key in vector["public_keys"]:
        args += ["--public-key", key]
    result = subprocess.run(["python3", "-m", "tallying.verify", *args], cwd=ROOT, capture_output=True, text=True,
                            env={**OBSERVER_ENV, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert result.stderr == "", result.stderr  # never a traceback
    verdict = json.loads(result.stdout)
    assert verdict["verdict"] == vector["verdict"], verdict
    assert result.returncode == {"pass": 0, "fail": 1, "unsigned": 3}[vector["verdict"]]
    if vector["verdict"] == "fail":
        assert (verdict["check"], verdict["line"], verdict["record"]) == \
               (vector["check"], vector["line"], vector["record"]), verdict
