"""Independent verifier of a poll export, following docs/verification.md (format 2). Standard
library plus `cryptography`; no Django, no database, no trust in our servers beyond the public
key(s) you give.

    python -m tallying.verify NEW [--public-key HEX ...] [--against OLD]

NEW is an export file (poll-<id>.jsonl), a folder of them, or the export URL
(https://…/api/v1/polls/<id>/export). It checks, in the order the spec gives, the poll's
definition and the chain's genesis, every key rotation and signed statement (canonical form,
Ed25519 signature, the definition it signs, counts that add up, never go down and stay within
the codes issued and used), the hash chain from the genesis to the last entry, each statement's
counts and head against the recount, and that a final result covers the whole ledger. With
--against OLD (an earlier export, or a folder of statements kept earlier, e.g. by
`python -m tallying.watch`) it also checks that NEW extends OLD: every head OLD signed is in
NEW's chain at the same position, with the same definition. Exit status 0 only if everything
holds; otherwise the first problem is named and the status is 1.
"""

import argparse
import json
import sys
import urllib.request
from datetime import datetime
from pathlib import Path

from tallying.canonical import NotCanonical, parse_canonical
from tallying.ledger import GENESIS_V1, definition_hash, entry_hash
from tallying.signing import verify as verify_signature

FORMAT = 2
DEFINITION_KEYS = {"poll", "region", "question_en", "question_ru", "answers"}
ANSWER_KEYS = {"id", "label_en", "label_ru"}
STATEMENT_KEYS = {
    2: {"format", "poll", "definition", "genesis", "taken_at", "counts", "total", "position", "head_hash",
        "batches", "final"},
    1: {"poll", "taken_at", "counts", "total", "position", "head_hash", "batches", "final"},
}
ROTATION_KEYS = {"format", "kind", "old_key", "new_key", "valid_from"}


class Failure(Exception):
    pass


# --- Reading the file --------------------------------------------------------------------------


def records(source):
    """(line number, record) for each line; a broken line fails."""
    if source.startswith(("http://", "https://")):
        stream = (line.decode("utf-8") for line in urllib.request.urlopen(source, timeout=60))
    else:
        stream = open(source, encoding="utf-8")  # noqa: SIM115 — closed when the generator ends
    try:
        for number, line in enumerate(stream, start=1):
            if not line.endswith("\n"):
                raise Failure(f"line {number}: the file ends in the middle of a line (truncated)")
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                raise Failure(f"line {number}: not valid JSON (truncated or damaged file)") from None
            if not isinstance(record, dict) or not isinstance(record.get("type"), str):
                raise Failure(f"line {number}: not a record (a JSON object with a type)")
            yield number, record
    except UnicodeDecodeError:
        raise Failure("the file is not UTF-8") from None
    finally:
        if hasattr(stream, "close"):
            stream.close()


# --- Small checks of values --------------------------------------------------------------------


def _integer(value, what, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Failure(f"{what} must be an integer ≥ {minimum}")
    return value


def _string(value, what):
    if not isinstance(value, str):
        raise Failure(f"{what} must be a string")
    return value


def _hex(value, what, size):
    if not isinstance(value, str) or len(value) != 2 * size or value != value.lower():
        raise Failure(f"{what} must be {2 * size} lower-case hex digits")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Failure(f"{what} must be {2 * size} lower-case hex digits") from None


def _time(value, what):
    try:
        moment = datetime.fromisoformat(_string(value, what))
    except ValueError:
        raise Failure(f"{what} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise Failure(f"{what} has no UTC offset")
    return moment


def _exact_keys(record, keys, what):
    if not isinstance(record, dict):
        raise Failure(f"{what} must be a JSON object")
    if set(record) != keys:
        missing, extra = sorted(keys - set(record)), sorted(set(record) - keys)
        raise Failure(f"{what} has " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra else [])
        ))


def check_definition(definition, what="the definition"):
    _exact_keys(definition, DEFINITION_KEYS, what)
    _integer(definition["poll"], f"{what}: poll", 1)
    for name in ("region", "question_en", "question_ru"):
        _string(definition[name], f"{what}: {name}")
    answers = definition["answers"]
    if not isinstance(answers, list) or not answers:
        raise Failure(f"{what}: answers must be a non-empty list")
    for i, answer in enumerate(answers, start=1):
        _exact_keys(answer, ANSWER_KEYS, f"{what}: answer {i}")
        _integer(answer["id"], f"{what}: answer {i} id", 1)
        _string(answer["label_en"], f"{what}: answer {i} label_en")
        _string(answer["label_ru"], f"{what}: answer {i} label_ru")
    if len({a["id"] for a in answers}) != len(answers):
        raise Failure(f"{what}: two answers have the same id")
    return definition


def definition_difference(expected, found):
    """Name the first field where two definitions differ (for a message a person can act on)."""
    for name in ("poll", "region", "question_en", "question_ru"):
        if expected.get(name) != found.get(name):
            return f"{name} {json.dumps(found.get(name), ensure_ascii=False)} instead of " \
                   f"{json.dumps(expected.get(name), ensure_ascii=False)}"
    ours, theirs = expected.get("answers") or [], found.get("answers") or []
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False), start=1):
        for name in ("id", "label_en", "label_ru"):
            if a.get(name) != b.get(name):
                return f"answer {i} {name} {json.dumps(b.get(name), ensure_ascii=False)} instead of " \
                       f"{json.dumps(a.get(name), ensure_ascii=False)}"
    return f"{len(theirs)} answers instead of {len(ours)}"


# --- Keys ----------------------------------------------------------------------------------------


class KeySchedule:
    """The signing keys in force over time: the first key, then each key-rotation statement (signed
    by the key it replaces) hands over to a new key from its valid_from time."""

    def __init__(self, first_key):
        self.keys = [(None, first_key)]

    @property
    def current(self):
        return self.keys[-1][1]

    def rotate(self, record, what):
        text, signature = _string(record.get("statement"), f"{what}: statement"), record.get("signature")
        try:
            rotation = parse_canonical(text)
        except NotCanonical as problem:
            raise Failure(f"{what}: the statement is not canonical JSON ({problem})") from None
        _exact_keys(rotation, ROTATION_KEYS, f"{what}: the statement")
        if rotation["format"] != FORMAT or rotation["kind"] != "key-rotation":
            raise Failure(f"{what}: not a format-2 key-rotation statement")
        _hex(rotation["old_key"], f"{what}: old_key", 32)
        _hex(rotation["new_key"], f"{what}: new_key", 32)
        valid_from = _time(rotation["valid_from"], f"{what}: valid_from")
        if rotation["old_key"] != self.current:
            raise Failure(f"{what}: it hands over from {rotation['old_key'][:16]}…, but the key in force is "
                          f"{self.current[:16]}…")
        _hex(signature, f"{what}: signature", 64)
        if not verify_signature(self.current, text, signature):
            raise Failure(f"{what}: the signature does not verify with the key it hands over from")
        if self.keys[-1][0] is not None and valid_from <= self.keys[-1][0]:
            raise Failure(f"{what}: valid_from is not after the previous rotation's")
        self.keys.append((valid_from, rotation["new_key"]))

    def key_at(self, moment):
        key = self.keys[0][1]
        for valid_from, candidate in self.keys[1:]:
            if moment >= valid_from:
                key = candidate
        return key

    def all(self):
        return [key for _valid_from, key in self.keys]


# --- Statements -----------------------------------------------------------------------------------


def read_statement(text, signature, keys, what):
    """Parse a signed statement and check its signature; return (statement, format)."""
    _string(text, f"{what}: statement")
    try:
        statement = parse_canonical(text)
    except NotCanonical as problem:
        raise Failure(f"{what}: the statement is not canonical JSON ({problem})") from None
    if not isinstance(statement, dict):
        raise Failure(f"{what}: the statement is not a JSON object")
    version = statement.get("format", 1)
    if version not in STATEMENT_KEYS:
        raise Failure(f"{what}: unknown statement format {version!r}")
    taken_at = _time(statement.get("taken_at"), f"{what}: taken_at")
    _hex(signature, f"{what}: signature", 64)
    if not verify_signature(keys.key_at(taken_at), text, signature):
        raise Failure(f"{what}: the signature does not verify")
    _exact_keys(statement, STATEMENT_KEYS[version], f"{what}: the statement")
    return statement, version


def check_statement_content(statement, version, definition, genesis, what):
    """Checks of one statement on its own and against the definition: counts per answer, total,
    and codes. Returns the per-batch summary (issued, used, revoked)."""
    if statement["poll"] != definition["poll"]:
        raise Failure(f"{what}: belongs to poll {statement['poll']}, not {definition['poll']}")
    if version == 2:
        check_definition(statement["definition"], f"{what}: the signed definition")
        if statement["definition"] != definition:
            raise Failure(f"{what}: the poll's definition in the export differs from the one this statement signs: "
                          f"the export has {definition_difference(statement['definition'], definition)}")
        if _hex(statement["genesis"], f"{what}: genesis", 32) != genesis:
            raise Failure(f"{what}: signs genesis {statement['genesis'][:16]}…, not the export's {genesis.hex()[:16]}…")
    elif genesis != GENESIS_V1:
        raise Failure(f"{what}: a format-1 statement (no definition) in a chain that began from the definition")
    position = _integer(statement["position"], f"{what}: position")
    total = _integer(statement["total"], f"{what}: total")
    _hex(statement["head_hash"], f"{what}: head_hash", 32)
    if not isinstance(statement["final"], bool):
        raise Failure(f"{what}: final must be true or false")
    counts, answers = statement["counts"], {str(a["id"]) for a in definition["answers"]}
    if not isinstance(counts, dict):
        raise Failure(f"{what}: counts must be an object")
    for answer, count in counts.items():
        _integer(count, f"{what}: count of answer {answer}")
        if answer not in answers:
            raise Failure(f"{what}: counts {count} for {answer}, which is not an answer of the poll")
    if version == 2 and set(counts) != answers:
        raise Failure(f"{what}: counts must name every answer of the poll")
    if total != sum(counts.values()):
        raise Failure(f"{what}: its total is not the sum of its counts")
    if total != position:
        raise Failure(f"{what}: its total {total} differs from its position {position} (one entry per ballot)")
    batches = statement["batches"]
    if not isinstance(batches, dict):
        raise Failure(f"{what}: batches must be an object")
    summary = {}
    for batch, figures in batches.items():
        keys = {"issued", "revoked", "used"} if version == 2 or "used" in figures else {"issued", "revoked"}
        _exact_keys(figures, keys, f"{what}: batch {batch}")
        issued = _integer(figures["issued"], f"{what}: batch {batch} issued")
        if not isinstance(figures["revoked"], bool):
            raise Failure(f"{what}: batch {batch} revoked must be true or false")
        used = _integer(figures["used"], f"{what}: batch {batch} used") if "used" in figures else None
        if used is not None and used > issued:
            raise Failure(f"{what}: batch {batch} has {used} codes used but only {issued} issued")
        summary[batch] = (issued, used, figures["revoked"])
    issued = sum(i for i, _u, _r in summary.values())
    if total > issued:
        raise Failure(f"{what}: its total {total} exceeds the {issued} codes issued for the poll")
    if summary and all(u is not None for _i, u, _r in summary.values()):
        used = sum(u for _i, u, _r in summary.values())
        if total > used:
            raise Failure(f"{what}: its total {total} exceeds the {used} codes used to vote (ballots without a code)")
    return summary


def batches_text(summary):
    """Used versus issued, per batch of codes, as a statement gives them."""
    if not summary:
        return "none issued"
    issued = sum(i for i, _u, _r in summary.values())
    used = None if any(u is None for _i, u, _r in summary.values()) else sum(u for _i, u, _r in summary.values())
    parts = [
        f"batch {b}{' (revoked)' if r else ''}: {'?' if u is None else u} used of {i}"
        for b, (i, u, r) in sorted(summary.items(), key=lambda item: int(item[0]) if item[0].isdigit() else 0)
    ]
    return f"{issued} issued, {'?' if used is None else used} used ({', '.join(parts)})"


# --- An earlier view (--against) ------------------------------------------------------------------


class OldView:
    """What an observer held earlier: signed heads (and, for an export, its entries)."""

    def __init__(self, label):
        self.label = label
        self.definition = None
        self.heads = {}  # position -> (head hash hex, what)
        self.final = None  # (statement text, what)
        self.entries_source = None
        self.pending = []  # statements from a folder, checked once NEW's keys are known

    @classmethod
    def load(cls, path, keys_given, out):
        view = cls(path)
        if Path(path).is_dir():
            files = sorted(Path(path).rglob("statement-*.json"))
            for file in files:
                try:
                    kept = json.loads(file.read_text(encoding="utf-8"))
                    view.pending.append((kept["statement"], kept["signature"], f"OLD {file.name}"))
                except (OSError, ValueError, KeyError, TypeError):
                    raise Failure(f"OLD {file}: not a kept statement (an object with statement and signature)") from None
            if not files:
                raise Failure(f"OLD {path}: no statement-*.json file in this folder")
            return view
        summary = verify_export(path, keys_given, out=out, accept_format_1=True, collect=view)
        view.entries_source = path if summary["entries"] else None
        return view

    def check_pending(self, keys, definition, genesis):
        for text, signature, what in self.pending:
            statement, version = read_statement(text, signature, keys, what)
            if statement["poll"] != definition["poll"]:
                continue  # another poll's statement in the same folder
            check_statement_content(statement, version, definition, genesis, what)
            self.add(statement, version, what, text)
        self.pending = []

    def add(self, statement, version, what, text):
        if version == 2:
            if self.definition is None:
                self.definition = statement["definition"]
            elif statement["definition"] != self.definition:
                raise Failure(f"{what}: OLD itself holds two definitions of the poll")
        held = self.heads.get(statement["position"])
        if held and held[0] != statement["head_hash"]:
            raise Failure(f"{what}: OLD itself holds two heads at position {statement['position']} ({held[1]})")
        self.heads[statement["position"]] = (statement["head_hash"], what)
        if statement["final"]:
            self.final = (text, what)

    def entries(self):
        """OLD's entry hashes in position order (a second pass over the OLD export)."""
        if self.entries_source is None:
            return iter(())
        return (bytes.fromhex(r["entry_hash"]) for _n, r in records(self.entries_source) if r["type"] == "entry")


# --- The export ------------------------------------------------------------------------------------


def _header(record, number, accept_format_1):
    if record.get("type") != "poll":
        raise Failure(f"line {number}: an export starts with the poll record")
    version = record.get("format")
    if version == 1:
        if not accept_format_1:
            raise Failure(
                "line 1: this is a format-1 export, whose poll definition is signed nowhere; this verifier "
                "(format 2) checks format-1 files only as OLD in --against. Download the export again: the "
                "server now writes format 2 for every poll, old ones included"
            )
        definition = {
            "poll": record.get("id"), "region": record.get("region"), "question_en": record.get("question_en"),
            "question_ru": record.get("question_ru"),
            "answers": [{"id": o.get("id"), "label_en": o.get("label_en"), "label_ru": o.get("label_ru")}
                        for o in record.get("options") or [] if isinstance(o, dict)],
        }
        check_definition(definition, "line 1: the poll")
        _hex(record.get("public_key"), "line 1: public_key", 32)
        return 1, definition, GENESIS_V1
    if version != FORMAT:
        raise Failure(f"line 1: export format {version!r}; this verifier reads format 2")
    _exact_keys(record, {"type", "format", "public_key", "definition", "genesis", "state", "opens_at", "closes_at"},
                "line 1: the poll record")
    _hex(record["public_key"], "line 1: public_key", 32)
    definition = check_definition(record["definition"], "line 1: the definition")
    genesis = _hex(record["genesis"], "line 1: genesis", 32)
    if genesis not in (definition_hash(definition), GENESIS_V1):
        raise Failure(f"line 1: the definition hashes to {definition_hash(definition).hex()[:16]}…, not to the genesis "
                      f"{genesis.hex()[:16]}… the chain began from: the poll's definition (question, answers, "
                      "region) is not the one that was signed")
    return 2, definition, genesis


def verify_export(source, public_key=None, out=print, against=None, accept_format_1=False, collect=None):
    """Verify one export; return a summary dict or raise Failure naming the first problem.

    public_key: a hex key or a list of the keys you trust (None: the export's own, with a warning).
    against: an OldView that NEW must extend. collect: an OldView to fill with this export's
    statements (when this export is the OLD one).
    """
    given = [public_key] if isinstance(public_key, str) else list(public_key or [])
    it = records(source)
    try:
        number, header = next(it)
    except StopIteration:
        raise Failure("the export is empty") from None
    file_format, definition, genesis = _header(header, number, accept_format_1)
    poll_id = definition["poll"]
    keys, key_checked = None, False

    def settle_keys():
        """After the rotations: the schedule's first key must be one you gave; the last, the header's."""
        nonlocal key_checked
        if key_checked:
            return
        key_checked = True
        if keys.current != header["public_key"]:
            raise Failure("the poll record's public_key is not the key the rotations end with")
        if given and keys.keys[0][1] not in given:
            raise Failure("the export names another public key than the one(s) you gave"
                          + (" (its first key, before its rotations)" if len(keys.keys) > 1 else ""))
        if not given:
            out(f"warning: using the public key inside the export ({header['public_key'][:16]}…); "
                "compare it with the published one")
        if against is not None:
            against.check_pending(keys, definition, genesis)
            if against.definition is not None and against.definition != definition:
                raise Failure(f"the poll's definition changed: OLD ({against.label}) signed it, and NEW's export has "
                              f"{definition_difference(against.definition, definition)}")

    checkpoints = {}  # position -> list of (statement number, counts without zeros, head hash hex, final)
    statements = final = 0
    final_text = None
    last = None  # (position, counts, what) of the previous statement
    summary_batches = {}
    format_2_seen = False
    counts, prev, position, ended = {}, genesis, 0, None
    old_entries = against.entries() if against is not None else None
    old_heads = against.heads if against is not None else {}
    answers = {a["id"] for a in definition["answers"]}
    for number, record in it:
        kind = record["type"]
        if ended is not None:
            raise Failure(f"line {number}: data after the end record")
        try:
            if kind == "key-rotation":
                _exact_keys(record, {"type", "statement", "signature"}, f"key rotation (line {number})")
                if statements or position:
                    raise Failure(f"line {number}: key rotations come right after the poll record")
                if keys is None:  # the first rotation hands over from the first key
                    keys = KeySchedule(_first_key(record, number))
                keys.rotate(record, f"key rotation (line {number})")
                continue
            if keys is None:
                keys = KeySchedule(header["public_key"])
            settle_keys()
            if kind == "snapshot":
                statements += 1
                what = f"snapshot {statements} (line {number})"
                _exact_keys(record, {"type", "statement", "signature"}, what)
                if position:
                    raise Failure(f"{what}: snapshots come before the ledger entries")
                if final:
                    raise Failure(f"{what}: comes after the final result (snapshot {final})")
                statement, version = read_statement(record.get("statement"), record.get("signature"), keys, what)
                if version == 1 and format_2_seen:
                    raise Failure(f"{what}: a format-1 statement after a format-2 one")
                format_2_seen = format_2_seen or version == 2
                summary_batches = check_statement_content(statement, version, definition, genesis, what)
                signed = {k: v for k, v in statement["counts"].items() if v}
                if last is not None:
                    if statement["position"] < last[0]:
                        raise Failure(f"{what}: its position {statement['position']} is below {last[2]}'s {last[0]}")
                    for answer, count in last[1].items():
                        if signed.get(answer, 0) < count:
                            raise Failure(f"{what}: the count of answer {answer} went down from {count} ({last[2]}) "
                                          f"to {signed.get(answer, 0)}")
                last = (statement["position"], signed, what)
                if statement["final"]:
                    final, final_text = statements, record["statement"]
                if statement["position"] == 0 and statement["head_hash"] != genesis.hex():
                    raise Failure(f"{what}: at position 0 its head must be the genesis")
                checkpoints.setdefault(statement["position"], []).append(
                    (what, signed, statement["head_hash"], statement["final"])
                )
                if collect is not None:
                    collect.add(statement, version, f"OLD {what}", record["statement"])
            elif kind == "entry":
                position += 1
                _exact_keys(record, {"type", "position", "poll", "option", "tracker_hash", "prev_hash", "entry_hash"},
                            f"entry at line {number}")
                if _integer(record["position"], f"entry at line {number}: position", 1) != position:
                    raise Failure(f"entry at line {number}: position {record['position']} where {position} was "
                                  "expected")
                if _integer(record["poll"], f"entry {position}: poll", 1) != poll_id:
                    raise Failure(f"entry {position}: belongs to poll {record['poll']}")
                if _integer(record["option"], f"entry {position}: option", 1) not in answers:
                    raise Failure(f"entry {position}: answer {record['option']} is not an answer of the poll")
                if _hex(record["prev_hash"], f"entry {position}: prev_hash", 32) != prev:
                    raise Failure(f"entry {position}: prev_hash does not match "
                                  + ("the genesis" if position == 1 else "the previous entry"))
                computed = entry_hash(prev, position, poll_id, record["option"],
                                      _hex(record["tracker_hash"], f"entry {position}: tracker_hash", 32))
                if computed.hex() != record["entry_hash"]:
                    raise Failure(f"entry {position}: entry_hash does not match its contents")
                prev = computed
                option = str(record["option"])
                counts[option] = counts.get(option, 0) + 1
                for what, signed_counts, head, _final in checkpoints.get(position, ()):
                    if signed_counts != counts:
                        raise Failure(f"{what}: its counts {signed_counts} differ from the recount {counts}")
                    if head != prev.hex():
                        raise Failure(f"{what}: its head hash is not entry {position}'s")
                if old_entries is not None:
                    held = next(old_entries, None)
                    if held is not None and held != computed:
                        raise Failure(f"NEW does not extend OLD: the chains part at position {position} (OLD's entry "
                                      f"{position} is {held.hex()[:16]}…, NEW's is {computed.hex()[:16]}…)")
                if position in old_heads and old_heads[position][0] != computed.hex():
                    agree = max((p for p in old_heads if p < position), default=0)
                    raise Failure(f"NEW does not extend OLD: {old_heads[position][1]} signed head "
                                  f"{old_heads[position][0][:16]}… at position {position}, NEW's entry {position} is "
                                  f"{computed.hex()[:16]}…; the chains part between positions {agree + 1} and "
                                  f"{position}")
            elif kind == "end":
                _exact_keys(record, {"type", "snapshots", "entries"}, f"line {number}: the end record")
                _integer(record["snapshots"], f"line {number}: snapshots")
                _integer(record["entries"], f"line {number}: entries")
                ended = record
            else:
                raise Failure(f"line {number}: unknown record type {kind!r}")
        except (KeyError, TypeError, AttributeError, NotCanonical) as problem:
            raise Failure(f"line {number}: malformed {kind} record ({problem!r})") from None
    if keys is None:
        keys = KeySchedule(header["public_key"])
    settle_keys()
    if ended is None:
        raise Failure("no end record: the export is truncated")
    if ended["entries"] != position or ended["snapshots"] != statements:
        raise Failure("the end record's totals differ from what the export holds")
    beyond = [p for p in checkpoints if p > position]
    if beyond:
        what = checkpoints[max(beyond)][0][0]
        raise Failure(f"{what} is signed at position {max(beyond)} but the ledger holds entries 1..{position}")
    if final:
        final_position = next(p for p, items in checkpoints.items() for s in items if s[3])
        if final_position != position:
            raise Failure(
                f"the final result covers {final_position} entries but the ledger holds {position}: "
                f"entries {final_position + 1}..{position} were added after the result was published"
            )
    if against is not None:
        cut = [p for p in old_heads if p > position]
        if cut:
            raise Failure(f"NEW does not extend OLD: NEW holds {position} entries, but {old_heads[max(cut)][1]} signed "
                          f"a head at position {max(cut)}")
        if old_entries is not None and next(old_entries, None) is not None:
            raise Failure(f"NEW does not extend OLD: NEW holds {position} entries, OLD more")
        if against.final is not None and final_text != against.final[0]:
            raise Failure(f"NEW does not extend OLD: {against.final[1]} is a final result that NEW does not hold")
    if position and not format_2_seen:
        out("warning: no statement in this export signs the poll's definition (a poll from before format 2)")
    if genesis == GENESIS_V1 and file_format == 2:
        out("note: this poll's chain began from 32 zero bytes (genesis version 1, before definitions were signed); "
            "its wording is bound by the format-2 statements only")
    return {"poll": poll_id, "entries": position, "snapshots": statements, "counts": counts,
            "head": prev.hex(), "final": bool(final), "definition": definition, "genesis": genesis.hex(),
            "batches": summary_batches, "format": file_format}


def _first_key(record, number):
    try:
        rotation = parse_canonical(_string(record.get("statement"), f"key rotation (line {number}): statement"))
    except NotCanonical as problem:
        raise Failure(f"key rotation (line {number}): the statement is not canonical JSON ({problem})") from None
    first = rotation.get("old_key") if isinstance(rotation, dict) else None
    _hex(first, f"key rotation (line {number}): old_key", 32)
    return first


def sources(path_or_url):
    if path_or_url.startswith(("http://", "https://")):
        return [path_or_url]
    path = Path(path_or_url)
    if path.is_dir():
        return sorted(str(p) for p in path.glob("*.jsonl"))
    return [str(path)]


def describe(source, summary):
    labels = {str(a["id"]): a["label_en"] for a in summary["definition"]["answers"]}
    counts = ", ".join(
        f"answer {a} “{labels.get(a, '?')}”: {summary['counts'].get(a, 0)}"
        for a in sorted(labels, key=int)
    )
    return (
        f"OK {source}: poll {summary['poll']} ({summary['definition']['region']}) "
        f"“{summary['definition']['question_en']}”, {summary['entries']} entries, chain verified from genesis "
        f"{summary['genesis'][:16]}… to head {summary['head'][:16]}…, {summary['snapshots']} signed statements "
        f"verified{', final result covers the whole ledger' if summary['final'] else ''}; recount: {counts}"
        + (f"; codes (last statement): {batches_text(summary['batches'])}" if summary["snapshots"] else
           "; nothing published yet")
    )


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tallying.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="an export file, a folder of exports, or the export URL")
    parser.add_argument("--public-key", action="append", metavar="HEX",
                        help="a published Ed25519 public key (hex) you trust; repeat for several keys")
    parser.add_argument("--against", metavar="OLD",
                        help="an earlier export, or a folder of statements kept earlier, that NEW must extend")
    args = parser.parse_args(argv)
    found = sources(args.source)
    if not found:
        print(f"FAIL: no export found at {args.source}")
        return 1
    if args.against and len(found) != 1:
        print("FAIL: --against compares one export with an earlier view of the same poll")
        return 1
    ok = True
    for source in found:
        try:
            against = OldView.load(args.against, args.public_key, out=lambda *_: None) if args.against else None
            summary = verify_export(source, args.public_key, against=against)
        except (Failure, OSError) as problem:
            print(f"FAIL {source}: {problem}")
            ok = False
            continue
        print(describe(source, summary))
        if args.against:
            print(f"OK NEW extends OLD ({args.against}): every head OLD signed is in NEW's chain at its position")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
