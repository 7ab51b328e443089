"""Independent verifier of a poll export, following docs/verification.md (format 2). Standard
library plus `cryptography`; no Django, no database, no trust in our servers beyond the public
key(s) you give.

    python -m tallying.verify NEW [--public-key HEX ...] [--against OLD] [--json]

NEW is an export file (poll-<id>.jsonl), a folder of them, or the export URL
(https://…/api/v1/polls/<id>/export). It performs the numbered checks of docs/verification.md in
their order: the poll's definition and the chain's genesis, every key rotation and signed statement
(canonical form, Ed25519 signature by the key in force, the definition it signs, counts that add
up, never go down and stay within the codes issued and used, times that never go back), the hash
chain from the genesis to the last entry, each statement's counts and head against the recount,
and that a final result covers the whole ledger. With --against OLD (an earlier export, or a
folder of statements kept earlier, e.g. by `python -m tallying.watch`) it also checks that NEW
extends OLD.

Exit status: 0 when every check holds; 1 when one fails (the first failing check is named, with
its number and the record it names); 2 on a usage error (e.g. a malformed --public-key); 3 when
the export holds neither a signed statement nor an entry (nothing is signed yet: nothing to vouch
for).
"""

import argparse
import json
import re
import sys
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

try:  # run as part of the app (python -m tallying.verify) or from the observers' package
    from .canonical import MAX_INTEGER, NotCanonical, parse_canonical
    from .ledger import GENESIS_V1, definition_hash, entry_hash
except ImportError:  # pragma: no cover - a copy run as a plain script
    from canonical import MAX_INTEGER, NotCanonical, parse_canonical
    from ledger import GENESIS_V1, definition_hash, entry_hash

FORMAT = 2
MAX_DEPTH = 64
EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_UNSIGNED = 0, 1, 2, 3
POLL_KEYS = {"type", "format", "public_key", "definition", "genesis", "state", "opens_at", "closes_at"}
DEFINITION_KEYS = {"poll", "region", "question_en", "question_ru", "answers"}
ANSWER_KEYS = {"id", "label_en", "label_ru"}
RECORD_KEYS = {"type", "statement", "signature"}
ENTRY_KEYS = {"type", "position", "poll", "option", "tracker_hash", "prev_hash", "entry_hash"}
END_KEYS = {"type", "snapshots", "entries"}
STATEMENT_KEYS = {
    2: {"format", "poll", "definition", "genesis", "taken_at", "counts", "total", "position", "head_hash",
        "batches", "final"},
    1: {"poll", "taken_at", "counts", "total", "position", "head_hash", "batches", "final"},
}
ROTATION_KEYS = {"format", "kind", "old_key", "new_key", "valid_from"}
TIME = re.compile(
    r"\A([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)
HEX = {size: re.compile(rf"\A[0-9a-f]{{{2 * size}}}\Z") for size in (32, 64)}
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


class Record:
    """The record a check names: its label (`snapshot 2`, `entry 42`, …) and line number."""

    def __init__(self, label, line=None):
        self.label, self.line = label, line

    def __str__(self):
        if self.line is None:
            return self.label
        return f"line {self.line}" if self.label is None else f"{self.label} (line {self.line})"


class Failure(Exception):
    """The first problem: a numbered check of docs/verification.md, and the record it names."""

    def __init__(self, message, check=None, record=None):
        super().__init__(message)
        self.message, self.check, self.record = message, check, record

    def __str__(self):
        where = ", ".join(part for part in (f"check {self.check}" if self.check else "",
                                            str(self.record) if self.record is not None else "") if part)
        return f"{where}: {self.message}" if where else self.message


class Bad(ValueError):
    """A value that breaks a grammar; `checking` turns it into the Failure of the check at hand."""


@contextmanager
def checking(check, record):
    try:
        yield
    except Bad as problem:
        raise Failure(str(problem), check, record) from None


def fail(check, record, message):
    raise Failure(message, check, record)


# --- Reading the file: check 1 (a line) and check 2 (the JSON profile) --------------------------


def _duplicate_members(pairs):
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        twice = next(key for key, _value in pairs if key in seen or seen.add(key))
        raise Bad(f"the member {json.dumps(twice, ensure_ascii=False)} appears twice in one object")
    return result


def _integer_token(text):
    value = int(text)
    if not -MAX_INTEGER <= value <= MAX_INTEGER:
        raise Bad(f"the integer {text[:20]}{'…' if len(text) > 20 else ''} is out of range (±(2⁵³−1))")
    return value


def _not_an_integer(text):
    raise Bad(f"the number {text[:20]} is not an integer (no fraction, no exponent)")


def _walk(value, depth=1):
    """Depth of nesting; refuses strings (keys too) that hold a lone surrogate."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise Bad("a string holds a lone surrogate (\\ud800–\\udfff escape without its pair)") from None
        return depth - 1
    if isinstance(value, dict):
        return max([depth] + [max(_walk(k, depth), _walk(v, depth + 1)) for k, v in value.items()])
    if isinstance(value, list):
        return max([depth] + [_walk(v, depth + 1) for v in value])
    return depth - 1


_DECODER = json.JSONDecoder(object_pairs_hook=_duplicate_members, parse_int=_integer_token,
                            parse_float=_not_an_integer, parse_constant=_not_an_integer)


def parse_record_json(text):
    """A line's JSON under the profile of docs/verification.md (check 2); raises Bad."""
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise Bad(f"nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as error:
        raise Bad(f"not valid JSON ({error.msg} at column {error.colno})") from None
    except ValueError as error:  # the hooks' Bad, or an integer too long for int()
        raise Bad(str(error) if isinstance(error, Bad) else "a number is out of range") from None
    if SURROGATE_ESCAPE.search(text) or text.count("{") + text.count("[") > MAX_DEPTH:
        if _walk(value) > MAX_DEPTH:
            raise Bad(f"nested more than {MAX_DEPTH} levels deep")
    return value


def _lines(source):
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=60) as response:
            yield from response
    else:
        with open(source, "rb") as stream:
            yield from stream


def records(source):
    """(line number, record) for each line, after checks 1-3."""
    for number, raw in enumerate(_lines(source), start=1):
        if not raw.endswith(b"\n"):
            fail(1, Record(None, number), "the file ends in the middle of a line (truncated)")
        try:
            text = raw[:-1].decode("utf-8")
            if text.startswith("\ufeff"):
                raise Bad("a byte order mark")
            record = parse_record_json(text)
        except UnicodeDecodeError:
            fail(2, Record(None, number), "not UTF-8")
        except Bad as problem:
            fail(2, Record(None, number), str(problem))
        if not isinstance(record, dict) or not isinstance(record.get("type"), str):
            fail(3, Record(None, number), "not a record (a JSON object with a string type)")
        yield number, record


# --- Grammars of values (they raise Bad; the caller names the check) -------------------------------


def _integer(value, what, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise Bad(f"{what} must be an integer ≥ {minimum}")
    return value


def _string(value, what):
    if not isinstance(value, str):
        raise Bad(f"{what} must be a string")
    return value


def _hex(value, what, size):
    if not isinstance(value, str) or not HEX[size].match(value):
        raise Bad(f"{what} must be {2 * size} lower-case hex digits")
    return bytes.fromhex(value)


def parse_time(value):
    """A time of the profile of docs/verification.md: YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|±HH:MM)."""
    match = TIME.match(value) if isinstance(value, str) else None
    if not match:
        raise ValueError("not YYYY-MM-DDTHH:MM:SS[.ffffff] followed by Z or ±HH:MM")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if offset == "Z":
        zone = UTC
    else:
        hours, minutes = int(offset[1:3]), int(offset[4:6])
        if offset == "-00:00" or hours > 23 or minutes > 59:
            raise ValueError("the UTC offset is out of range (−00:00 is not allowed)")
        zone = timezone((-1 if offset[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes))
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                    int((fraction or "0").ljust(6, "0")), tzinfo=zone)


def _time(value, what):
    try:
        return parse_time(value)
    except ValueError as problem:
        raise Bad(f"{what} is not a time of the profile ({problem}): {json.dumps(value, ensure_ascii=False)[:40]}") \
            from None


def _exact_keys(record, keys, what):
    if not isinstance(record, dict):
        raise Bad(f"{what} must be a JSON object")
    if set(record) != keys:
        missing, extra = sorted(keys - set(record)), sorted(set(record) - keys)
        raise Bad(f"{what} has " + "; ".join(
            ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unknown {', '.join(extra)}"] if extra else [])
        ))


def _format(value):
    """A format number: an integer (not true, not 2.0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_definition(definition, what="the definition"):
    _exact_keys(definition, DEFINITION_KEYS, what)
    _integer(definition["poll"], f"{what}: poll", 1)
    for name in ("region", "question_en", "question_ru"):
        _string(definition[name], f"{what}: {name}")
    answers = definition["answers"]
    if not isinstance(answers, list) or not answers:
        raise Bad(f"{what}: answers must be a non-empty list")
    for i, answer in enumerate(answers, start=1):
        _exact_keys(answer, ANSWER_KEYS, f"{what}: answer {i}")
        _integer(answer["id"], f"{what}: answer {i} id", 1)
        _string(answer["label_en"], f"{what}: answer {i} label_en")
        _string(answer["label_ru"], f"{what}: answer {i} label_ru")
    if len({a["id"] for a in answers}) != len(answers):
        raise Bad(f"{what}: two answers have the same id")
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


def verify_signature(public_key_hex, text, signature_hex):
    """Pure Ed25519 (RFC 8032) over the UTF-8 bytes of text."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(
            bytes.fromhex(signature_hex), text.encode("utf-8"))
        return True
    except (InvalidSignature, ValueError):
        return False


# --- Keys: checks 10-18 ------------------------------------------------------------------------------


def _canonical_object(text, what):
    _string(text, f"{what}: statement")
    try:
        value = parse_canonical(text)
    except NotCanonical as problem:
        raise Bad(f"the statement is not canonical JSON ({problem})") from None
    if not isinstance(value, dict):
        raise Bad("the statement is not a JSON object")
    return value


class KeySchedule:
    """The signing keys in force over time: the first key, then each key-rotation statement (signed
    by the key it replaces) hands over to a new key from its valid_from time."""

    def __init__(self, first_key=None):
        self.keys = [(None, first_key)] if first_key else []

    @property
    def current(self):
        return self.keys[-1][1]

    def rotate(self, record, where):
        """Checks 11-16 of one key-rotation record (its members, check 10, are the caller's)."""
        if isinstance(where, str):
            where = Record(where)
        text, signature = record.get("statement"), record.get("signature")
        with checking(11, where):
            rotation = _canonical_object(text, "the rotation")
        with checking(12, where):
            _exact_keys(rotation, ROTATION_KEYS, "the statement")
            if _format(rotation["format"]) != FORMAT or rotation["kind"] != "key-rotation":
                raise Bad("not a format-2 key-rotation statement")
        with checking(13, where):
            _hex(rotation["old_key"], "old_key", 32)
            _hex(rotation["new_key"], "new_key", 32)
            valid_from = _time(rotation["valid_from"], "valid_from")
        if not self.keys:  # the first rotation hands over from the chain's first key
            self.keys.append((None, rotation["old_key"]))
        if rotation["old_key"] != self.current:
            fail(14, where, f"it hands over from {rotation['old_key'][:16]}…, but the key in force is "
                            f"{self.current[:16]}…")
        with checking(15, where):
            _hex(signature, "signature", 64)
        if not verify_signature(self.current, text, signature):
            fail(15, where, "the signature does not verify with the key it hands over from")
        if self.keys[-1][0] is not None and valid_from <= self.keys[-1][0]:
            fail(16, where, "valid_from is not after the previous rotation's")
        self.keys.append((valid_from, rotation["new_key"]))

    def key_at(self, moment):
        key = self.keys[0][1]
        for valid_from, candidate in self.keys[1:]:
            if moment >= valid_from:
                key = candidate
        return key

    def all(self):
        return [key for _valid_from, key in self.keys]


def _first_key(record, number):
    """The first key of a rotation chain: the first rotation's old_key (checks 11-13)."""
    where = Record("key rotation 1", number)
    with checking(11, where):
        rotation = _canonical_object(record.get("statement"), "the rotation")
    with checking(13, where):
        return _hex(rotation.get("old_key"), "old_key", 32).hex()


# --- Statements: checks 21-36 ---------------------------------------------------------------------


def read_statement(text, signature, keys, where):
    """Checks 21-25: parse a signed statement and check its signature; return (statement, format)."""
    if isinstance(where, str):
        where = Record(where)
    with checking(21, where):
        statement = _canonical_object(text, "the statement")
    version = _format(statement.get("format", 1))
    if version not in STATEMENT_KEYS:
        fail(22, where, f"unknown statement format {json.dumps(statement.get('format'))}")
    with checking(23, where):
        taken_at = _time(statement.get("taken_at"), "taken_at")
    with checking(24, where):
        _hex(signature, "signature", 64)
    if not verify_signature(keys.key_at(taken_at), text, signature):
        fail(24, where, "the signature does not verify")
    with checking(25, where):
        _exact_keys(statement, STATEMENT_KEYS[version], "the statement")
    return statement, version


def check_statement_content(statement, version, definition, genesis, where):
    """Checks 27-36 of one statement on its own and against the definition: counts per answer,
    total, and codes. Returns the per-batch summary {batch: (issued, used, revoked)}."""
    if isinstance(where, str):
        where = Record(where)
    if _format(statement["poll"]) != definition["poll"]:
        fail(27, where, f"belongs to poll {json.dumps(statement['poll'])}, not {definition['poll']}")
    if version == 2:
        with checking(28, where):
            check_definition(statement["definition"], "the signed definition")
        if statement["definition"] != definition:
            fail(28, where, "the poll's definition in the export differs from the one this statement signs: the "
                            f"export has {definition_difference(statement['definition'], definition)}")
        with checking(29, where):
            signed_genesis = _hex(statement["genesis"], "genesis", 32)
        if signed_genesis != genesis:
            fail(29, where, f"signs genesis {statement['genesis'][:16]}…, not the export's {genesis.hex()[:16]}…")
    elif genesis != GENESIS_V1:
        fail(29, where, "a format-1 statement (no definition) in a chain that began from the definition")
    with checking(30, where):
        position = _integer(statement["position"], "position")
        total = _integer(statement["total"], "total")
        _hex(statement["head_hash"], "head_hash", 32)
        if not isinstance(statement["final"], bool):
            raise Bad("final must be true or false")
    counts, answers = statement["counts"], {str(a["id"]) for a in definition["answers"]}
    with checking(31, where):
        if not isinstance(counts, dict):
            raise Bad("counts must be an object")
        for answer, count in counts.items():
            _integer(count, f"the count of answer {answer}")
            if answer not in answers:
                raise Bad(f"counts {count} for {answer}, which is not an answer of the poll")
        if version == 2 and set(counts) != answers:
            raise Bad("counts must name every answer of the poll")
    if total != sum(counts.values()):
        fail(32, where, "its total is not the sum of its counts")
    if total != position:
        fail(33, where, f"its total {total} differs from its position {position} (one entry per ballot)")
    batches, summary = statement["batches"], {}
    with checking(34, where):
        if not isinstance(batches, dict):
            raise Bad("batches must be an object")
        for batch, figures in batches.items():
            with_used = version == 2 or (isinstance(figures, dict) and "used" in figures)
            _exact_keys(figures, {"issued", "revoked", "used"} if with_used else {"issued", "revoked"},
                        f"batch {batch}")
            issued = _integer(figures["issued"], f"batch {batch} issued")
            if not isinstance(figures["revoked"], bool):
                raise Bad(f"batch {batch} revoked must be true or false")
            used = _integer(figures["used"], f"batch {batch} used") if with_used else None
            if used is not None and used > issued:
                raise Bad(f"batch {batch} has {used} codes used but only {issued} issued")
            summary[batch] = (issued, used, figures["revoked"])
    issued = sum(i for i, _u, _r in summary.values())
    if total > issued:
        fail(35, where, f"its total {total} exceeds the {issued} codes issued for the poll")
    if summary and all(u is not None for _i, u, _r in summary.values()):
        used = sum(u for _i, u, _r in summary.values())
        if total > used:
            fail(36, where, f"its total {total} exceeds the {used} codes used to vote (ballots without a code)")
    return summary


def check_growth(previous, previous_where, statement, where):
    """Checks 37 and 38: a statement's position and counts are not below the previous one's."""
    if statement["position"] < previous["position"]:
        fail(37, where, f"its position {statement['position']} is below {previous_where}'s {previous['position']}")
    for answer, count in previous["counts"].items():
        if statement["counts"].get(answer, 0) < count:
            fail(38, where, f"the count of answer {answer} went down from {count} ({previous_where}) to "
                            f"{statement['counts'].get(answer, 0)}")


def check_time_order(previous, previous_where, statement, where):
    """Check 53: a statement is not taken before the previous one (whichever key signed either)."""
    if parse_time(statement["taken_at"]) < parse_time(previous["taken_at"]):
        fail(53, where, f"taken at {statement['taken_at']}, before {previous_where} ({previous['taken_at']}): a "
                        "statement's time never goes back")


def codes_exceeded(statement):
    """The stuffing signature of a statement (docs/verification.md checks 35 and 36): the number of
    ballots its total counts beyond the codes used (or issued), 0 when the total is covered."""
    figures = [f for f in (statement.get("batches") or {}).values() if isinstance(f, dict)]
    total = statement.get("total") or 0
    issued = sum(f.get("issued") or 0 for f in figures)
    bound = issued if any("used" not in f for f in figures) else min(issued, sum(f.get("used") or 0 for f in figures))
    return max(0, total - bound)


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


# --- An earlier view (--against): checks 56-60 ------------------------------------------------------


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
        """Read OLD; a problem in OLD is a Failure whose record names OLD's file."""
        view = cls(path)
        if Path(path).is_dir():
            files = sorted(Path(path).rglob("statement-*.json"))
            for file in files:
                where = Record(f"OLD {file.name}")
                try:
                    with checking(21, where):
                        kept = parse_record_json(file.read_bytes().decode("utf-8"))
                except (OSError, UnicodeDecodeError):
                    fail(21, where, "cannot be read as UTF-8")
                if not isinstance(kept, dict) or not {"statement", "signature"} <= set(kept) \
                        or not set(kept) <= {"id", "statement", "signature"}:
                    fail(21, where, "not a kept statement (an object with statement, signature and optionally id)")
                view.pending.append((kept["statement"], kept["signature"], where))
            if not files:
                fail(None, Record(f"OLD {path}"), "no statement-*.json file in this folder")
            return view
        summary = verify_export(path, keys_given, out=out, accept_format_1=True, collect=view)
        view.entries_source = path if summary["entries"] else None
        return view

    def check_pending(self, keys, definition, genesis):
        for text, signature, where in self.pending:
            statement, version = read_statement(text, signature, keys, where)
            if statement["poll"] != definition["poll"]:
                continue  # another poll's statement in the same folder
            check_statement_content(statement, version, definition, genesis, where)
            self.add(statement, version, where, text)
        self.pending = []

    def add(self, statement, version, where, text):
        if version == 2:
            if self.definition is None:
                self.definition = statement["definition"]
            elif statement["definition"] != self.definition:
                fail(56, where, "OLD itself holds two definitions of the poll")
        held = self.heads.get(statement["position"])
        if held and held[0] != statement["head_hash"]:
            fail(58, where, f"OLD itself holds two heads at position {statement['position']} ({held[1]})")
        self.heads[statement["position"]] = (statement["head_hash"], str(where))
        if statement["final"]:
            self.final = (text, str(where))

    def entries(self):
        """OLD's entry hashes in position order (a second pass over the OLD export)."""
        if self.entries_source is None:
            return iter(())
        return (bytes.fromhex(r["entry_hash"]) for _n, r in records(self.entries_source) if r["type"] == "entry")


# --- The export ------------------------------------------------------------------------------------


def _header(record, number, accept_format_1):
    """Checks 4-9 of the poll record; (file format, definition, genesis)."""
    where = Record("the poll record", number)
    if record["type"] != "poll":
        fail(4, where, "an export starts with the poll record")
    version = _format(record.get("format"))
    if version == 1 and accept_format_1:
        definition = {
            "poll": record.get("id"), "region": record.get("region"), "question_en": record.get("question_en"),
            "question_ru": record.get("question_ru"),
            "answers": [{"id": o.get("id"), "label_en": o.get("label_en"), "label_ru": o.get("label_ru")}
                        for o in record.get("options") or [] if isinstance(o, dict)],
        }
        with checking(8, where):
            check_definition(definition, "the poll")
        with checking(7, where):
            _hex(record.get("public_key"), "public_key", 32)
        return 1, definition, GENESIS_V1
    if version == 1:
        fail(5, where, "this is a format-1 export, whose poll definition is signed nowhere; this verifier "
                       "(format 2) checks format-1 files only as OLD in --against. Download the export again: the "
                       "server now writes format 2 for every poll, old ones included")
    if version != FORMAT:
        fail(5, where, f"export format {json.dumps(record.get('format'))}; this verifier reads format 2 (an integer)")
    with checking(6, where):
        _exact_keys(record, POLL_KEYS, "the poll record")
        _string(record["state"], "state")
        _time(record["opens_at"], "opens_at")
        _time(record["closes_at"], "closes_at")
    with checking(7, where):
        _hex(record["public_key"], "public_key", 32)
    with checking(8, where):
        definition = check_definition(record["definition"], "the definition")
    with checking(9, where):
        genesis = _hex(record["genesis"], "genesis", 32)
    if genesis not in (definition_hash(definition), GENESIS_V1):
        fail(9, where, f"the definition hashes to {definition_hash(definition).hex()[:16]}…, not to the genesis "
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
        header = None
    if header is None:
        fail(49, Record("end of file"), "the export is empty")
    file_format, definition, genesis = _header(header, number, accept_format_1)
    header_where = Record("the poll record", number)
    poll_id = definition["poll"]
    keys, key_checked, rotations = None, False, 0

    def settle_keys():
        """Checks 17-18, after the rotations: the schedule's first key must be one you gave; the
        last, the header's."""
        nonlocal key_checked
        if key_checked:
            return
        key_checked = True
        if keys.current != header["public_key"]:
            fail(17, header_where, "the poll record's public_key is not the key the rotations end with")
        if given and keys.keys[0][1] not in given:
            fail(18, header_where, "the export names another public key than the one(s) you gave"
                 + (" (its first key, before its rotations)" if len(keys.keys) > 1 else ""))
        if not given:
            out(f"warning: using the public key inside the export ({header['public_key'][:16]}…); "
                "compare it with the published one")
        if against is not None:
            against.check_pending(keys, definition, genesis)
            if against.definition is not None and against.definition != definition:
                fail(56, header_where, f"the poll's definition changed: OLD ({against.label}) signed it, and NEW's "
                                       f"export has {definition_difference(against.definition, definition)}")

    checkpoints = {}  # position -> list of (Record, counts without zeros, head hash hex, final)
    statements = final = 0
    final_where = final_text = None
    last = None  # (statement, Record) of the previous statement
    summary_batches = {}
    format_2_seen = False
    counts, prev, position, ended, end_where = {}, genesis, 0, None, None
    old_entries = against.entries() if against is not None else None
    old_heads = against.heads if against is not None else {}
    answers = {a["id"] for a in definition["answers"]}
    for number, record in it:
        kind = record["type"]
        if ended is not None:
            fail(47, Record(None, number), "data after the end record")
        if kind == "key-rotation":
            rotations += 1
            where = Record(f"key rotation {rotations}", number)
            with checking(10, where):
                _exact_keys(record, RECORD_KEYS, "the record")
            if statements or position:
                fail(10, where, "key rotations come right after the poll record")
            if keys is None:
                keys = KeySchedule()
            keys.rotate(record, where)
            continue
        if kind not in ("snapshot", "entry", "end"):
            fail(4, Record(None, number), f"unknown record type {json.dumps(kind, ensure_ascii=False)[:40]}"
                 + (" (only line 1 is the poll record)" if kind == "poll" else ""))
        if keys is None:
            keys = KeySchedule(header["public_key"])
        settle_keys()
        if kind == "snapshot":
            statements += 1
            where = Record(f"snapshot {statements}", number)
            with checking(19, where):
                _exact_keys(record, RECORD_KEYS, "the record")
            if position:
                fail(19, where, "snapshots come before the ledger entries")
            if final:
                fail(20, where, f"comes after the final result ({final_where})")
            statement, version = read_statement(record["statement"], record["signature"], keys, where)
            if version == 1 and format_2_seen:
                fail(26, where, "a format-1 statement after a format-2 one")
            format_2_seen = format_2_seen or version == 2
            summary_batches = check_statement_content(statement, version, definition, genesis, where)
            signed = {k: v for k, v in statement["counts"].items() if v}
            if last is not None:
                check_growth(last[0], last[1], statement, where)
            if statement["position"] == 0 and statement["head_hash"] != genesis.hex():
                fail(39, where, "at position 0 its head must be the genesis")
            if last is not None:
                check_time_order(last[0], last[1], statement, where)
            last = (statement, where)
            if statement["final"]:
                final, final_where, final_text = statements, where, record["statement"]
            checkpoints.setdefault(statement["position"], []).append(
                (where, signed, statement["head_hash"], statement["final"])
            )
            if collect is not None:
                collect.add(statement, version, Record(f"OLD {where.label}", number), record["statement"])
        elif kind == "entry":
            position += 1
            where = Record(f"entry {position}", number)
            if record.keys() != ENTRY_KEYS:
                with checking(40, where):
                    _exact_keys(record, ENTRY_KEYS, "the entry")
            if isinstance(record["position"], bool) or record["position"] != position:
                fail(41, where, f"position {json.dumps(record['position'])} where {position} was expected")
            if isinstance(record["poll"], bool) or record["poll"] != poll_id:
                fail(42, where, f"belongs to poll {json.dumps(record['poll'])}")
            option = record["option"]
            if isinstance(option, bool) or not isinstance(option, int) or option not in answers:
                fail(43, where, f"answer {json.dumps(option)} is not an answer of the poll")
            try:
                prev_hash = _hex(record["prev_hash"], "prev_hash", 32)
            except Bad as problem:
                fail(44, where, str(problem))
            if prev_hash != prev:
                fail(44, where, "prev_hash does not match " + ("the genesis" if position == 1 else "the previous entry"))
            try:
                tracker_hash = _hex(record["tracker_hash"], "tracker_hash", 32)
            except Bad as problem:
                fail(45, where, str(problem))
            computed = entry_hash(prev, position, poll_id, option, tracker_hash)
            if computed.hex() != record["entry_hash"]:
                fail(45, where, "entry_hash does not match its contents")
            prev = computed
            counts[str(option)] = counts.get(str(option), 0) + 1
            for signer, signed_counts, head, _final in checkpoints.get(position, ()):
                if signed_counts != counts:
                    fail(46, signer, f"its counts {signed_counts} differ from the recount {counts} of entries "
                                     f"1..{position}")
                if head != computed.hex():
                    fail(46, signer, f"its head hash is not entry {position}'s")
            if old_entries is not None:
                held = next(old_entries, None)
                if held is not None and held != computed:
                    fail(57, where, f"NEW does not extend OLD: the chains part at position {position} (OLD's entry "
                                    f"{position} is {held.hex()[:16]}…, NEW's is {computed.hex()[:16]}…)")
            if position in old_heads and old_heads[position][0] != computed.hex():
                agree = max((p for p in old_heads if p < position), default=0)
                fail(58, where, f"NEW does not extend OLD: {old_heads[position][1]} signed head "
                                f"{old_heads[position][0][:16]}… at position {position}, NEW's entry {position} is "
                                f"{computed.hex()[:16]}…; the chains part between positions {agree + 1} and "
                                f"{position}")
        else:  # the end record
            end_where = Record("the end record", number)
            with checking(48, end_where):
                _exact_keys(record, END_KEYS, "the end record")
                _integer(record["snapshots"], "snapshots")
                _integer(record["entries"], "entries")
            ended = record
    if keys is None:
        keys = KeySchedule(header["public_key"])
    settle_keys()
    if ended is None:
        fail(49, Record("end of file"), "no end record: the export is truncated")
    if ended["entries"] != position or ended["snapshots"] != statements:
        fail(50, end_where, "the end record's totals differ from what the export holds")
    for at, items in sorted(checkpoints.items()):
        if at > position:
            fail(51, items[0][0], f"is signed at position {at} but the ledger holds entries 1..{position}")
    if final and last is not None:
        final_position = next(p for p, items in checkpoints.items() for s in items if s[3])
        if final_position != position:
            fail(52, final_where, f"the final result covers {final_position} entries but the ledger holds {position}: "
                                  f"entries {final_position + 1}..{position} were added after the result was published")
    if position and not statements:
        fail(54, end_where, f"the export holds {position} entries and no signed statement: nothing in it is signed")
    if against is not None:
        cut = [p for p in old_heads if p > position]
        if cut:
            fail(59, end_where, f"NEW does not extend OLD: NEW holds {position} entries, but {old_heads[max(cut)][1]} "
                                f"signed a head at position {max(cut)}")
        if old_entries is not None and next(old_entries, None) is not None:
            fail(59, end_where, f"NEW does not extend OLD: NEW holds {position} entries, OLD more")
        if against.final is not None and final_text != against.final[0]:
            fail(60, end_where, f"NEW does not extend OLD: {against.final[1]} is a final result that NEW does not hold")
    if position and not format_2_seen:
        out("warning: no statement in this export signs the poll's definition (a poll from before format 2)")
    if genesis == GENESIS_V1 and file_format == 2:
        out("note: this poll's chain began from 32 zero bytes (genesis version 1, before definitions were signed); "
            "its wording is bound by the format-2 statements only")
    return {"poll": poll_id, "entries": position, "snapshots": statements, "counts": counts,
            "head": prev.hex(), "final": bool(final), "definition": definition, "genesis": genesis.hex(),
            "batches": summary_batches, "format": file_format}


def sources(path_or_url):
    if path_or_url.startswith(("http://", "https://")):
        return [path_or_url]
    path = Path(path_or_url)
    if path.is_dir():
        return sorted(str(p) for p in path.glob("*.jsonl"))
    return [str(path)]


def plural(number, one, many):
    return f"{number} {one if number == 1 else many}"


def describe(source, summary):
    labels = {str(a["id"]): a["label_en"] for a in summary["definition"]["answers"]}
    counts = ", ".join(
        f"answer {a} “{labels.get(a, '?')}”: {summary['counts'].get(a, 0)}"
        for a in sorted(labels, key=int)
    )
    if not summary["snapshots"]:
        return (f"UNSIGNED {source}: poll {summary['poll']} ({summary['definition']['region']}) "
                f"“{summary['definition']['question_en']}”: no signed statement and no entry yet, nothing to verify")
    return (
        f"OK {source}: poll {summary['poll']} ({summary['definition']['region']}) "
        f"“{summary['definition']['question_en']}”, {plural(summary['entries'], 'entry', 'entries')}, chain verified "
        f"from genesis {summary['genesis'][:16]}… to head {summary['head'][:16]}…, "
        f"{plural(summary['snapshots'], 'signed statement', 'signed statements')} verified"
        f"{', final result covers the whole ledger' if summary['final'] else ''}; recount: {counts}"
        f"; codes (last statement): {batches_text(summary['batches'])}"
    )


def public_key_argument(value):
    """--public-key: exactly 64 lower-case hex digits (a usage error otherwise, not a forgery)."""
    if not HEX[32].match(value):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a public key: 64 lower-case hex digits (the raw 32-byte Ed25519 key)")
    return value


def _result(source, problem):
    return {"source": source, "verdict": "fail", "check": problem.check,
            "record": problem.record.label if problem.record is not None else None,
            "line": problem.record.line if problem.record is not None else None, "message": problem.message}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tallying.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="an export file, a folder of exports, or the export URL")
    parser.add_argument("--public-key", action="append", metavar="HEX", type=public_key_argument,
                        help="a published Ed25519 public key (64 lower-case hex digits) you trust; repeat for several")
    parser.add_argument("--against", metavar="OLD",
                        help="an earlier export, or a folder of statements kept earlier, that NEW must extend")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object per export (verdict, check, record, line, message)")
    args = parser.parse_args(argv)
    found = sources(args.source)
    if not found:
        parser.error(f"no export found at {args.source}")
    if args.against and len(found) != 1:
        parser.error("--against compares one export with an earlier view of the same poll")
    if args.against and not args.against.startswith(("http://", "https://")) and not Path(args.against).exists():
        parser.error(f"--against {args.against}: no such file or folder")
    status = EXIT_OK
    for source in found:
        against = None
        if args.against:
            try:
                against = OldView.load(args.against, args.public_key, out=lambda *_: None)
            except (Failure, OSError) as problem:
                problem = problem if isinstance(problem, Failure) else Failure(str(problem))
                print(json.dumps({**_result(args.against, problem), "old": True}, ensure_ascii=False) if args.json
                      else f"FAIL OLD {args.against}: {problem}")
                status = EXIT_FAIL
                continue
        try:
            summary = verify_export(source, args.public_key, against=against,
                                    out=(lambda *_: None) if args.json else print)
        except (Failure, OSError) as problem:
            problem = problem if isinstance(problem, Failure) else Failure(str(problem))
            print(json.dumps(_result(source, problem), ensure_ascii=False) if args.json else f"FAIL {source}: {problem}")
            status = EXIT_FAIL
            continue
        unsigned = not summary["snapshots"]
        if args.json:
            print(json.dumps({"source": source, "verdict": "unsigned" if unsigned else "pass",
                              "entries": summary["entries"], "snapshots": summary["snapshots"],
                              "head": summary["head"], "counts": summary["counts"]}, ensure_ascii=False))
        else:
            print(describe(source, summary))
            if args.against and not unsigned:
                print(f"OK NEW extends OLD ({args.against}): every head OLD signed is in NEW's chain at its position")
        if unsigned and status == EXIT_OK:
            status = EXIT_UNSIGNED
    return status


if __name__ == "__main__":
    sys.exit(main())
