"""Write the check vectors of docs/verification.md: docs/vectors/valid/, docs/vectors/invalid/ and
docs/vectors/manifest.json, all derived from sample-export.jsonl (an export made by the app, see
tests/test_verification_vectors.py) and the published sample key of vectors.json.

    python3 docs/vectors/make_vectors.py          # from the repository root; deterministic

Standard library plus `cryptography`, and the repository's tallying/canonical.py and
tallying/ledger.py (the encodings of the specification). Ed25519 is deterministic, so the same
inputs give the same files byte for byte: tests/test_verification_vectors.py regenerates them in
a temporary folder and compares.

Every invalid vector breaks exactly one rule; the manifest names the check that must fail first
and the record (its line number) that the check names. Valid vectors are unusual but legal
files: a key rotation, times in other offsets, a chain begun before definitions were signed
(format-1 statements), CRLF line ends, records with their members in another order.
"""

import copy
import hashlib
import json
import sys
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tallying.canonical import canonical  # noqa: E402
from tallying.ledger import GENESIS_V1, entry_hash  # noqa: E402

VECTORS = json.loads((HERE / "vectors.json").read_text(encoding="utf-8"))
SAMPLE = (HERE / "sample-export.jsonl").read_text(encoding="utf-8")
KEY = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(VECTORS["key"]["seed"]))
# Two more published keys: the sample key hands over to KEY2 in the rotation vectors; KEY3 is a
# forger's key nobody trusts.
KEY2 = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"referendum: the second sample key").digest())
KEY3 = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"referendum: a forger's key").digest())


def public(key):
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


PUBLIC, PUBLIC2, PUBLIC3 = public(KEY), public(KEY2), public(KEY3)
ROTATION_AT = "2026-12-02T05:21:13.6+00:00"  # between the sample's first and second statements


def dump(record):
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False)


def signed(key, value):
    text = canonical(value).decode("utf-8")
    return text, key.sign(text.encode("utf-8")).hex()


class Export:
    """The sample as values: the poll record, rotations, statements (with the key that signs each),
    entries and the end record; `lines()` writes it back, chained and signed as asked."""

    def __init__(self):
        recs = [json.loads(line) for line in SAMPLE.splitlines()]
        self.header = recs[0]
        self.rotations = []  # (statement dict, key)
        self.statements = [[json.loads(r["statement"]), KEY] for r in recs if r["type"] == "snapshot"]
        self.entries = [{k: r[k] for k in ("option", "tracker_hash")} for r in recs if r["type"] == "entry"]
        self.poll = self.header["definition"]["poll"]

    @property
    def genesis(self):
        return bytes.fromhex(self.header["genesis"])

    def chain(self):
        prev, out = self.genesis, []
        for position, entry in enumerate(self.entries, start=1):
            computed = entry_hash(prev, position, self.poll, entry["option"], bytes.fromhex(entry["tracker_hash"]))
            out.append({"type": "entry", "position": position, "poll": self.poll, "option": entry["option"],
                        "tracker_hash": entry["tracker_hash"], "prev_hash": prev.hex(), "entry_hash": computed.hex()})
            prev = computed
        return out

    def restate(self):
        """Counts and heads of every statement recomputed from the entries (a consistent forgery)."""
        chain = self.chain()
        for statement, _key in self.statements:
            upto = chain[: statement["position"]]
            counts = {str(a["id"]): 0 for a in self.header["definition"]["answers"]}
            for entry in upto:
                counts[str(entry["option"])] += 1
            statement["counts"] = counts
            statement["head_hash"] = upto[-1]["entry_hash"] if upto else self.header["genesis"]
        return self

    def rotate(self, key_from, key_to, valid_from):
        self.rotations.append(({"format": 2, "kind": "key-rotation", "old_key": public(key_from),
                                "new_key": public(key_to), "valid_from": valid_from}, key_from))
        self.header["public_key"] = public(key_to)
        return self

    def records(self):
        out = [self.header]
        for statement, key in self.rotations:
            text, signature = signed(key, statement)
            out.append({"type": "key-rotation", "statement": text, "signature": signature})
        for statement, key in self.statements:
            text, signature = signed(key, statement)
            out.append({"type": "snapshot", "statement": text, "signature": signature})
        entries = self.chain()
        return out + entries + [{"type": "end", "snapshots": len(self.statements), "entries": len(entries)}]

    def lines(self, recs=None):
        return [dump(r) + "\n" for r in (self.records() if recs is None else recs)]


def text_of(lines):
    return "".join(lines)


VALID, INVALID = [], []


def valid(name, lines, description, keys=(PUBLIC,), verdict="pass"):
    VALID.append({"file": f"valid/{name}.jsonl", "text": text_of(lines), "verdict": verdict,
                  "public_keys": list(keys), "description": description})


def invalid(check, name, lines, line, record, description, keys=(PUBLIC,)):
    INVALID.append({"file": f"invalid/{check:02d}-{name}.jsonl", "text": text_of(lines), "verdict": "fail",
                    "check": check, "line": line, "record": record, "public_keys": list(keys),
                    "description": description})


def edit_line(lines, number, old, new):
    line = lines[number - 1]
    assert old in line, (number, old)
    lines = list(lines)
    lines[number - 1] = line.replace(old, new, 1)
    return lines


def resign_statement(recs, index, change, key=KEY):
    """Change the statement of snapshot record recs[index] (a dict) and sign it again."""
    statement = json.loads(recs[index]["statement"])
    change(statement)
    recs[index]["statement"], recs[index]["signature"] = signed(key, statement)
    return recs


def with_statement(change, key=KEY, index=1):
    recs = Export().records()
    return Export().lines(resign_statement(recs, index, change, key))


def noncanonical(recs, index, old, new, key=KEY):
    text = recs[index]["statement"]
    assert old in text
    text = text.replace(old, new, 1)
    recs[index]["statement"], recs[index]["signature"] = text, key.sign(text.encode("utf-8")).hex()
    return recs


def build():
    sample = Export().lines()
    assert sample == SAMPLE.splitlines(keepends=True), "the sample's own records must round-trip"

    # --- valid ---------------------------------------------------------------------------------
    valid("sample", sample, "the sample export as the app wrote it")
    ex = Export().rotate(KEY, KEY2, ROTATION_AT)
    ex.statements[1][1] = ex.statements[2][1] = KEY2
    valid("key-rotation", ex.lines(), "a key rotation from the sample key to a second key between the first and "
          "second statements; only the first key is trusted")
    valid("key-rotation-both-keys-trusted", ex.lines(), "the same, trusting both keys", keys=(PUBLIC, PUBLIC2))
    ex = Export().rotate(KEY, KEY2, ROTATION_AT).rotate(KEY2, KEY3, "2026-12-02T05:21:13.8Z")
    ex.statements[1][1], ex.statements[2][1] = KEY2, KEY3
    taken = [s["taken_at"] for s, _k in ex.statements]
    assert taken[1] < "2026-12-02T05:21:13.8" < taken[2], taken
    valid("two-key-rotations", ex.lines(), "two rotations; each statement signed by the key in force at its "
          "taken_at (the third key is trusted only through the hand-overs)")
    ex = Export()
    ex.statements[0][0]["taken_at"] = "2026-12-02T05:21:13Z"
    ex.statements[1][0]["taken_at"] = "2026-12-02T10:51:14.5+05:30"  # 05:21:14.5 UTC: later as an instant
    ex.statements[2][0]["taken_at"] = "2026-12-01T23:21:15.000001-06:00"  # 05:21:15.000001 UTC
    valid("times-in-other-offsets", ex.lines(), "taken_at in Z, +05:30 (a fraction of one digit) and -06:00; "
          "compared as instants, they go forward though their texts do not sort")
    ex = Export()
    ex.statements[1][0]["taken_at"] = ex.statements[2][0]["taken_at"] = "2026-12-02T05:21:15+00:00"
    valid("equal-times", ex.lines(), "two statements taken at the same instant (time never goes back; it may "
          "stand still)")
    ex = Export()
    ex.header["genesis"] = GENESIS_V1.hex()
    ex.restate()
    for statement, _key in ex.statements[:2]:
        for name in ("format", "definition", "genesis"):
            del statement[name]
        statement["counts"] = {k: v for k, v in statement["counts"].items() if v}
    del ex.statements[0][0]["batches"]["3"]["used"]
    ex.statements[2][0]["genesis"] = GENESIS_V1.hex()
    valid("genesis-v1-format-1-statements", ex.lines(), "a chain begun from 32 zero bytes (genesis "
          "version 1): two format-1 statements (the first without used), then a format-2 one")
    valid("crlf-line-ends", [line.replace("\n", "\r\n") for line in sample], "every line ends in CR LF: the CR "
          "is JSON whitespace inside the line")
    recs = Export().records()
    spaced = [json.dumps(dict(reversed(list(r.items()))), indent=None, ensure_ascii=True) + "\n" for r in recs]
    valid("members-reordered-and-escaped", spaced, "records (not statements) with their members in reverse order, "
          "spaces after : and , and every non-ASCII character as a \\u escape (paired surrogates included)")
    ex = Export()
    ex.entries = []
    ex.statements = [ex.statements[2]]
    ex.statements[0][0].update(position=0, total=0, final=True)
    ex.restate()
    valid("final-at-position-0", ex.lines(), "a final result over no ballot: one statement at position 0 whose "
          "head is the genesis")
    ex = Export()
    ex.entries, ex.statements = [], []
    valid("nothing-signed-yet", ex.lines(), "no statement and no entry: not a failure, not a pass (exit status 3)",
          verdict="unsigned")

    # --- invalid, by check ------------------------------------------------------------------------
    last = len(sample)  # 12: the end record
    invalid(1, "no-final-line-feed", sample[:-1] + [sample[-1].rstrip("\n")], last, None,
            "the last line has no line feed (a truncated file)")
    invalid(2, "broken-json", edit_line(sample, 8, '"option":2,', '"option":,'), 8, None, "an entry that is not JSON")
    dup = edit_line(sample, 1, '"question_en":', '"question_en":"Do you support the union?","question_en":')
    invalid(2, "duplicate-member-in-the-poll-record", dup, 1, None,
            "the poll record's definition carries a fake question_en first and the real one second")
    invalid(2, "duplicate-member-in-an-entry", edit_line(sample, 8, '"option":2,', '"option":10,"option":2,'), 8,
            None, "an entry with option twice")
    invalid(2, "duplicate-member-in-the-end-record", edit_line(sample, last, '"entries":7', '"entries":6,"entries":7'),
            last, None, "the end record with entries twice")
    invalid(2, "lone-surrogate", edit_line(sample, 1, '"region":"siberia"', '"region":"siberia\\ud800"'), 1, None,
            "a lone surrogate escape in the poll definition")
    invalid(2, "fraction", edit_line(sample, 8, '"position":4,', '"position":4.0,'), 8, None,
            "a number with a fraction")
    invalid(2, "exponent", edit_line(sample, 8, '"position":4,', '"position":4e0,'), 8, None,
            "a number with an exponent")
    invalid(2, "integer-out-of-range", edit_line(sample, 8, '"poll":7,', '"poll":9007199254740992,'), 8, None,
            "an integer above 2^53-1")
    invalid(2, "nan", edit_line(sample, last, '"entries":7', '"entries":NaN'), last, None, "NaN is not JSON")
    invalid(2, "byte-order-mark", ["\ufeff" + sample[0]] + sample[1:], 1, None, "a UTF-8 byte order mark")
    invalid(2, "too-deep", edit_line(sample, last, '"entries":7', '"entries":7,"x":' + "[" * 70 + "]" * 70), last,
            None, "nesting deeper than 64 levels")
    invalid(3, "not-an-object", sample[:5] + ["[]\n"] + sample[6:], 6, None, "a line that is an array")
    invalid(3, "type-not-a-string", edit_line(sample, 6, '"type":"entry"', '"type":5'), 6, None, "a numeric type")
    invalid(4, "first-record-not-the-poll", sample[1:2] + sample[:1] + sample[2:], 1, "the poll record",
            "a snapshot first")
    invalid(4, "unknown-type", edit_line(sample, 6, '"type":"entry"', '"type":"ballot"'), 6, None,
            "a record of an unknown type")
    invalid(4, "second-poll-record", sample[:1] + sample[:1] + sample[1:], 2, None, "the poll record twice")
    invalid(5, "format-true", edit_line(sample, 1, '"format":2', '"format":true'), 1, "the poll record",
            '"format": true is not the format 1, nor 2')
    invalid(5, "format-string", edit_line(sample, 1, '"format":2', '"format":"2"'), 1, "the poll record",
            "format as a string")
    invalid(5, "format-1-file", edit_line(sample, 1, '"format":2', '"format":1'), 1, "the poll record",
            "a format-1 export is not verified as a file of its own")
    invalid(6, "extra-member", edit_line(sample, 1, '"type":"poll",', '"type":"poll","note":"x",'), 1,
            "the poll record", "an unknown member in the poll record")
    opens = json.loads(sample[0])["opens_at"]
    invalid(6, "opens-at-without-seconds", edit_line(sample, 1, opens, opens[:16] + opens[-6:]), 1, "the poll record",
            "opens_at without seconds")
    invalid(7, "public-key-upper-case", edit_line(sample, 1, PUBLIC, PUBLIC.upper()), 1, "the poll record",
            "the public key in upper-case hex")
    ex = Export()
    ex.header["definition"]["answers"][1]["id"] = 2
    invalid(8, "answer-ids-not-distinct", ex.lines(), 1, "the poll record", "two answers with id 2")
    invalid(9, "region-edited", edit_line(sample, 1, '"region":"siberia"', '"region":"urals"'), 1, "the poll record",
            "the definition edited: it no longer hashes to the genesis")

    rot = Export().rotate(KEY, KEY2, ROTATION_AT)
    rot.statements[1][1] = rot.statements[2][1] = KEY2
    rl = rot.lines()  # line 2: the rotation; snapshots 3-5; entries 6-12; end 13
    moved = edit_line(rl[:1], 1, PUBLIC2, PUBLIC) + Export().lines()[1:2] + rl[1:2] + Export().lines()[2:]
    invalid(10, "rotation-after-a-snapshot", moved, 3, "key rotation 1",
            "a key rotation after a snapshot")
    invalid(10, "rotation-extra-member", edit_line(rl, 2, '"type":"key-rotation",', '"type":"key-rotation","x":1,'),
            2, "key rotation 1", "a key-rotation record with an unknown member")
    recs = rot.records()
    invalid(11, "rotation-not-canonical", Export().lines(noncanonical(recs, 1, ',"kind"', ', "kind"')), 2,
            "key rotation 1", "a space in the rotation statement (signed)")
    recs = rot.records()
    invalid(12, "rotation-kind", Export().lines(resign_statement(recs, 1, lambda s: s.update(kind="rotation"))), 2,
            "key rotation 1", "kind is not key-rotation")
    recs = rot.records()
    invalid(12, "rotation-format-true", Export().lines(resign_statement(recs, 1, lambda s: s.update(format=True))),
            2, "key rotation 1", "format true in a rotation")
    recs = rot.records()
    invalid(13, "rotation-basic-time", Export().lines(resign_statement(
        recs, 1, lambda s: s.update(valid_from="20261202T052120Z"))), 2, "key rotation 1",
        "valid_from in ISO 8601 basic format")
    two = Export().rotate(KEY, KEY2, ROTATION_AT).rotate(KEY, KEY3, "2026-12-02T05:21:13.8+00:00")
    two.statements[1][1] = KEY2
    two.statements[2][1] = KEY3
    invalid(14, "rotation-from-a-key-not-in-force", two.lines(), 3, "key rotation 2",
            "the second rotation hands over from the first key again")
    bad = Export().rotate(KEY, KEY2, ROTATION_AT)
    bad.rotations[0] = (bad.rotations[0][0], KEY2)
    bad.statements[1][1] = bad.statements[2][1] = KEY2
    invalid(15, "rotation-signed-by-the-new-key", bad.lines(), 2, "key rotation 1",
            "a rotation signed by the key it hands over to")
    back = Export().rotate(KEY, KEY2, ROTATION_AT).rotate(KEY2, KEY3, "2026-12-02T05:21:13.5+00:00")
    back.statements[1][1] = back.statements[2][1] = KEY3
    invalid(16, "rotation-valid-from-goes-back", back.lines(), 3, "key rotation 2",
            "the second rotation's valid_from is before the first's")
    invalid(17, "header-key-not-the-last", edit_line(rl, 1, PUBLIC2, PUBLIC), 1, "the poll record",
            "the poll record names the first key though a rotation handed over to the second")
    invalid(18, "untrusted-key", sample, 1, "the poll record", "the sample checked trusting another key only",
            keys=(PUBLIC3,))
    ex = Export()
    ex.header["public_key"] = PUBLIC3
    for statement in ex.statements:
        statement[1] = KEY3
    invalid(18, "re-signed-by-a-forger", ex.lines(), 1, "the poll record",
        "everything re-signed with a forger's key, named in the poll record")

    invalid(19, "snapshot-after-an-entry", sample[:3] + sample[4:5] + sample[3:4] + sample[5:], 5, "snapshot 3",
            "the final statement after entry 1")
    invalid(19, "snapshot-extra-member", edit_line(sample, 3, '"type":"snapshot",', '"type":"snapshot","id":2,'), 3,
            "snapshot 2", "a snapshot record with an unknown member")
    ex = Export()
    extra = [copy.deepcopy(ex.statements[2][0]), KEY]
    extra[0].update(final=False, taken_at="2026-12-02T05:21:59+00:00")
    ex.statements.append(extra)
    invalid(20, "snapshot-after-the-final", ex.lines(), 5, "snapshot 4", "a statement after the final result")
    invalid(21, "statement-not-canonical", Export().lines(noncanonical(Export().records(), 1, ',"final"', ', "final"')),
            2, "snapshot 1", "a space in a signed statement")
    invalid(21, "statement-duplicate-member", Export().lines(noncanonical(
        Export().records(), 1, '{"batches"', '{"total":99,"batches"')), 2, "snapshot 1",
        "a duplicate member in a signed statement")
    invalid(22, "statement-format-true", with_statement(lambda s: s.update(format=True)), 2, "snapshot 1",
            '"format": true in a statement is not format 1')
    invalid(22, "statement-format-3", with_statement(lambda s: s.update(format=3)), 2, "snapshot 1",
            "an unknown statement format")
    for name, value, what in [
        ("basic", "20261202T052113Z", "ISO 8601 basic format"),
        ("space", "2026-12-02 05:21:13+00:00", "a space instead of T"),
        ("no-seconds", "2026-12-02T05:21+00:00", "no seconds"),
        ("no-offset", "2026-12-02T05:21:13", "no UTC offset"),
        ("lower-case-t", "2026-12-02t05:21:13z", "lower-case t and z"),
        ("seven-digit-fraction", "2026-12-02T05:21:13.5425840+00:00", "seven fraction digits"),
        ("leap-second", "2026-12-31T23:59:60Z", "a leap second"),
        ("minus-zero-offset", "2026-12-02T05:21:13-00:00", "the unknown-offset form -00:00"),
        ("offset-without-colon", "2026-12-02T05:21:13+0000", "an offset without a colon"),
        ("day-out-of-range", "2026-02-30T05:21:13Z", "30 February"),
    ]:
        invalid(23, f"taken-at-{name}", with_statement(lambda s, v=value: s.update(taken_at=v)), 2, "snapshot 1",
                f"taken_at: {what}")
    recs = Export().records()
    recs[1]["signature"] = "00" * 64
    invalid(24, "bad-signature", Export().lines(recs), 2, "snapshot 1", "a signature that does not verify")
    invalid(24, "signed-by-another-key", with_statement(lambda s: None, key=KEY3), 2, "snapshot 1",
            "a statement signed with a key not in force")
    ex = Export().rotate(KEY, KEY2, ROTATION_AT)
    ex.statements[1][1] = KEY2  # statement 3, taken after the rotation, still signed with the old key
    invalid(24, "old-key-after-rotation", ex.lines(), 5, "snapshot 3",
            "after a rotation, a statement signed with the old key")
    invalid(25, "statement-extra-member", with_statement(lambda s: s.update(note="x")), 2, "snapshot 1",
            "a statement with an unknown member")
    ex = Export()
    for name in ("format", "definition", "genesis"):
        del ex.statements[1][0][name]
    invalid(26, "format-1-after-format-2", ex.lines(), 3, "snapshot 2", "a format-1 statement after a format-2 one")
    invalid(27, "statement-of-another-poll", with_statement(lambda s: s.update(poll=8)), 2, "snapshot 1",
            "a statement of poll 8")
    invalid(28, "signed-definition-differs", with_statement(
        lambda s: s["definition"]["answers"][0].update(label_en="No")), 2, "snapshot 1",
        "the statement signs another wording than the poll record's")
    invalid(29, "statement-genesis-differs", with_statement(lambda s: s.update(genesis="00" * 32)), 2, "snapshot 1",
            "the statement signs another genesis")
    ex = Export()
    for name in ("format", "definition", "genesis"):
        del ex.statements[0][0][name]
    invalid(29, "format-1-statement-in-a-v2-chain", ex.lines(), 2, "snapshot 1",
            "a format-1 statement where the chain began from the definition")
    invalid(30, "final-not-a-boolean", with_statement(lambda s: s.update(final=0)), 2, "snapshot 1", "final is 0")
    invalid(30, "head-hash-upper-case", with_statement(lambda s: s.update(head_hash=s["head_hash"].upper())), 2,
            "snapshot 1", "head_hash in upper-case hex")
    invalid(31, "counts-missing-an-answer", with_statement(lambda s: s.update(counts={"2": 3}, total=3)), 2,
            "snapshot 1", "counts without answer 10")
    invalid(31, "counts-leading-zero-id", with_statement(lambda s: s.update(counts={"02": 2, "10": 1})), 2,
            "snapshot 1", 'an answer id written "02"')
    invalid(32, "total-not-the-sum", with_statement(lambda s: s.update(total=4)), 2, "snapshot 1",
            "total 4, counts summing to 3")
    invalid(33, "total-not-the-position", with_statement(lambda s: s.update(position=4)), 2, "snapshot 1",
            "total 3 at position 4")
    invalid(34, "used-above-issued", with_statement(lambda s: s["batches"]["3"].update(used=9)), 2, "snapshot 1",
            "9 codes used of 8")
    invalid(34, "batch-without-used", with_statement(lambda s: s["batches"]["3"].pop("used")), 2, "snapshot 1",
            "a format-2 batch without used")
    invalid(35, "total-above-issued", with_statement(lambda s: s["batches"]["3"].update(issued=2, used=2)), 2,
            "snapshot 1", "3 ballots with 2 codes issued")
    invalid(36, "total-above-used", with_statement(lambda s: s["batches"]["3"].update(used=2)), 2, "snapshot 1",
            "3 ballots with 2 codes used: a ballot without a code (stuffing)")
    ex = Export()
    ex.statements[0], ex.statements[1] = ex.statements[1], ex.statements[0]
    invalid(37, "position-goes-back", ex.lines(), 3, "snapshot 2", "the statement at 6 before the one at 3")
    invalid(38, "count-goes-down", with_statement(lambda s: s.update(counts={"2": 6, "10": 0}), index=2), 3,
            "snapshot 2", "answer 10 falls from 1 to 0")
    ex = Export()
    zero = [copy.deepcopy(ex.statements[0][0]), KEY]
    zero[0].update(position=0, total=0, counts={"2": 0, "10": 0}, taken_at="2026-12-02T05:21:00+00:00",
                   head_hash=ex.chain()[0]["entry_hash"])
    ex.statements.insert(0, zero)
    invalid(39, "position-0-head-not-genesis", ex.lines(), 2, "snapshot 1",
            "a statement at position 0 whose head is not the genesis")
    ex = Export()
    ex.statements[1][0]["taken_at"] = "2026-12-02T05:21:12+00:00"
    invalid(53, "time-goes-back", ex.lines(), 3, "snapshot 2", "the second statement taken before the first")
    ex = Export().rotate(KEY, KEY2, ROTATION_AT)
    ex.statements[1][1] = KEY2
    ex.statements[2][0]["taken_at"] = "2026-12-02T05:21:13.55+00:00"  # back-dated before the rotation
    invalid(53, "back-dated-with-the-old-key", ex.lines(), 5, "snapshot 3",
            "after a rotation, the old key signs a statement back-dated before valid_from: it verifies with the "
            "key in force then, but goes back in time")

    invalid(40, "entry-extra-member", edit_line(sample, 7, '"type":"entry",', '"type":"entry","answer":"Yes",'), 7,
            "entry 3", "an entry with an unknown member")
    invalid(41, "entry-missing", sample[:7] + sample[8:-1] + [sample[-1].replace('"entries":7', '"entries":6')], 8,
            "entry 4", "entry 4 removed: entry 5 comes fourth")
    invalid(41, "position-as-string", edit_line(sample, 8, '"position":4,', '"position":"4",'), 8, "entry 4",
            "a position written as a string")
    invalid(42, "entry-of-another-poll", edit_line(sample, 8, '"poll":7,', '"poll":8,'), 8, "entry 4",
            "an entry of poll 8")
    invalid(43, "option-not-an-answer", edit_line(sample, 8, '"option":2,', '"option":3,'), 8, "entry 4",
            "answer 3 does not exist")
    prev4 = json.loads(sample[7])["prev_hash"]
    invalid(44, "prev-hash-upper-case", edit_line(sample, 8, prev4, prev4.upper()), 8, "entry 4",
            "prev_hash in upper-case hex")
    invalid(44, "prev-hash-differs", edit_line(sample, 8, prev4, "00" * 32), 8, "entry 4",
            "prev_hash is not entry 3's hash")
    invalid(45, "option-changed", edit_line(sample, 8, '"option":2,', '"option":10,'), 8, "entry 4",
            "an answer changed in the ledger")
    ex = Export()
    ex.entries[1]["option"] = 10
    invalid(46, "counts-differ-from-recount", ex.lines(), 2, "snapshot 1",
            "entry 2's answer changed and the chain rebuilt: the first statement's counts no longer match (the "
            "check names the statement)")
    ex = Export()
    ex.entries[1]["tracker_hash"] = "11" * 32
    invalid(46, "head-differs", ex.lines(), 2, "snapshot 1",
            "entry 2's tracker changed and the chain rebuilt: the counts hold, the first statement's head does not")
    invalid(47, "data-after-the-end", sample + [sample[6]], last + 1, None, "an entry after the end record")
    invalid(48, "end-extra-member", edit_line(sample, last, '"entries":7', '"entries":7,"more":0'), last,
            "the end record", "the end record with an unknown member")
    invalid(48, "end-entries-a-string", edit_line(sample, last, '"entries":7', '"entries":"7"'), last,
            "the end record", "the end record's entries as a string")
    invalid(49, "no-end-record", sample[:-1], None, "end of file", "the end record cut off")
    invalid(50, "end-counts-differ", edit_line(sample, last, '"entries":7', '"entries":8'), last, "the end record",
            "the end record claims 8 entries")
    ex = Export()
    ex.entries.pop()
    invalid(51, "statement-beyond-the-ledger", ex.lines(), 4, "snapshot 3",
            "the final statement signs position 7, the ledger holds 6")
    ex = Export()
    ex.entries.append({"option": 10, "tracker_hash": "22" * 32})
    invalid(52, "entry-after-the-final", ex.lines(), 4, "snapshot 3", "an entry added after the final result")
    ex = Export()
    ex.statements = []
    invalid(54, "statements-stripped", ex.lines(), 9, "the end record",
            "every statement removed: entries that nobody signed")


def main(out=HERE):
    build()
    manifest = {
        "about": "Check vectors for docs/verification.md (section Test vectors): each file with the verdict a "
                 "conforming verifier reaches; for a failing file, the number of the first check that fails and "
                 "the line of the record that check names (null: the end of the file). Written by make_vectors.py.",
        "keys": {"sample": PUBLIC, "second": PUBLIC2, "forger": PUBLIC3},
        "vectors": [],
    }
    for vector in VALID + INVALID:
        path = out / vector["file"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(vector["text"].encode("utf-8"))
        manifest["vectors"].append({k: v for k, v in vector.items() if k != "text"})
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


if __name__ == "__main__":
    written = main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
    print(f"{len(written['vectors'])} vectors written")
