"""Watch a poll for observers: fetch its signed statements and new ledger entries as they are
published, keep every statement, verify as it goes, and raise an alarm when the server
contradicts what you already hold. Standard library plus `cryptography`, like the verifier.

    python -m tallying.watch URL --dir DIR [--every SECONDS] [--public-key HEX ...] [--verbose]

URL is the poll's API address (https://…/api/v1/polls/<id>). DIR keeps what you hold: every
signed statement (statements/statement-<id>.json, usable as OLD in
`python -m tallying.verify NEW --against DIR`) and where the watch stands (watch.json). Each
run fetches only what is new: statements after the last one held, entries after the last
position verified. Without --every it runs once (for cron or a systemd timer); with it, it
keeps watching.

Exit status: 0 when everything holds (and nothing is printed unless --verbose), 1 on an alarm
(a bad signature, a head that does not extend one you hold, counts that go down, a changed
definition, a total above the codes issued, …: the message names what contradicts what, and
DIR/ALARM keeps it; every later run repeats it until you remove that file), 2 on a usage error,
3 when the server could not be reached (with --every, it warns and tries again).
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from .ledger import entry_hash
from .verify import (
    Bad,
    Failure,
    KeySchedule,
    _duplicate_members,
    _first_key,
    _hex,
    batches_text,
    check_definition,
    check_statement_content,
    definition_difference,
    parse_time,
    plural,
    read_statement,
)

LEDGER_PAGE = 1000
STATEMENT_PAGE = 100
USER_AGENT = "referendum-watch/2"


class Alarm(Exception):
    pass


class Unreachable(Exception):
    pass


def poll_url(url):
    """(site base URL, poll id) from a poll's API address or any address below it."""
    match = re.match(r"^(https?://[^?#]+?)/api/v1/polls/(\d+)(?:[/?#].*)?$", url)
    if not match:
        raise ValueError("URL must be a poll's API address, e.g. https://vote.example.org/api/v1/polls/1")
    return match.group(1), int(match.group(2))


def fetch_json(url, attempts=4):
    for attempt in range(attempts):
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read().decode("utf-8"), object_pairs_hook=_duplicate_members)
        except Bad as problem:  # a duplicate member: two readers could see two different answers
            raise Alarm(f"{url}: the server's JSON is malformed ({problem})") from None
        except urllib.error.HTTPError as error:
            if error.code in (429, 502, 503, 504) and attempt + 1 < attempts:
                time.sleep(min(int(error.headers.get("Retry-After") or 2), 60))
                continue
            raise Unreachable(f"{url}: HTTP {error.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            if attempt + 1 < attempts:
                time.sleep(2)
                continue
            raise Unreachable(f"{url}: {error}") from None
    raise Unreachable(url)


def _write_atomically(path, text):
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


class Watch:
    def __init__(self, url, directory, trusted=(), out=print, verbose=False):
        self.base, self.poll = poll_url(url)
        self.dir = Path(directory)
        self.statements_dir = self.dir / "statements"
        self.state_path = self.dir / "watch.json"
        self.alarm_path = self.dir / "ALARM"
        self.out, self.verbose = out, verbose
        self.trusted = list(trusted)
        self.state = None

    # --- what we hold -------------------------------------------------------------------------

    def load(self):
        self.statements_dir.mkdir(parents=True, exist_ok=True)
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text(encoding="utf-8"))
            if self.state["poll"] != self.poll or self.state["base"] != self.base:
                raise ValueError(f"{self.dir} watches poll {self.state['poll']} at {self.state['base']}, not this one")
            for key in self.trusted:
                if key not in self.state["trusted"]:
                    self.state["trusted"].append(key)
        else:
            self.state = {
                "base": self.base, "poll": self.poll, "trusted": self.trusted, "rotations": [],
                "snapshot_after": 0, "statements": 0, "position": 0, "head": None, "counts": {},
                "definition": None, "genesis": None, "last": None, "final": None,
            }

    def save(self):
        _write_atomically(self.state_path, json.dumps(self.state, ensure_ascii=False, indent=1))

    def keep(self, snapshot):
        path = self.statements_dir / f"statement-{snapshot['id']:012d}.json"
        _write_atomically(path, json.dumps(
            {"id": snapshot["id"], "statement": snapshot["statement"], "signature": snapshot["signature"]},
            ensure_ascii=False,
        ))

    def alarm(self, message, evidence=None):
        text = f"ALARM poll {self.poll} at {self.base}: {message}"
        if evidence is not None:
            name = f"evidence-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
            _write_atomically(self.dir / name, json.dumps(evidence, ensure_ascii=False, indent=1))
            text += f" (what the server sent is kept in {self.dir / name})"
        _write_atomically(self.alarm_path, text + "\n")
        raise Alarm(text)

    # --- one run --------------------------------------------------------------------------------

    def run_once(self):
        if self.alarm_path.exists():
            raise Alarm(self.alarm_path.read_text(encoding="utf-8").strip()
                        + f" [repeated: remove {self.alarm_path} once you have dealt with it]")
        self.load()
        keys = self.keys()
        self.compare_shown_definition()
        new_statements = new_entries = 0
        while True:
            page = fetch_json(f"{self.base}/api/v1/polls/{self.poll}/snapshots"
                              f"?after={self.state['snapshot_after']}&limit={STATEMENT_PAGE}")
            for snapshot in page.get("snapshots") or []:
                if snapshot.get("statement"):
                    new_entries += self.take(snapshot, keys)
                    new_statements += 1
                self.state["snapshot_after"] = snapshot["id"]
                self.save()
            if not page.get("next_after"):
                break
        if self.verbose:
            last = self.state["last"] or {}
            codes = batches_text({b: tuple(v) for b, v in last["batches"].items()}) if last else "no statement yet"
            self.out(f"poll {self.poll}: {plural(new_statements, 'new statement', 'new statements')}, "
                     f"{plural(new_entries, 'new entry', 'new entries')} verified; holding "
                     f"{plural(self.state['statements'], 'statement', 'statements')}, head at position "
                     f"{self.state['position']}"
                     + (" (final result)" if self.state["final"] else "") + f"; codes: {codes}")
        return new_statements, new_entries

    def compare_shown_definition(self):
        """The question and answers the site shows must be the ones it signed."""
        if not self.state["definition"]:
            return
        poll = fetch_json(f"{self.base}/api/v1/polls/{self.poll}")
        shown = {
            "poll": poll.get("id"), "region": poll.get("region"), "question_en": poll.get("question_en"),
            "question_ru": poll.get("question_ru"),
            "answers": [{"id": o.get("id"), "label_en": o.get("label_en"), "label_ru": o.get("label_ru")}
                        for o in poll.get("options") or []],
        }
        if shown != self.state["definition"]:
            self.alarm(f"the site shows {definition_difference(self.state['definition'], shown)} (the poll's "
                       "definition you hold, signed in every statement, says otherwise)", evidence=poll)

    def keys(self):
        """The key schedule: the key(s) you trust, and rotations signed by them."""
        published = fetch_json(f"{self.base}/api/v1/public-key")
        rotations = published.get("rotations") or []
        held = self.state["rotations"]
        if rotations[: len(held)] != held:
            self.alarm("the server's key rotations are not the ones it published before (a rotation you hold was "
                       "changed or removed)", evidence=published)
        try:
            schedule = KeySchedule(_first_key(rotations[0], 1) if rotations else published["public_key"])
            for number, record in enumerate(rotations, start=1):
                schedule.rotate(record, f"key rotation {number}")
        except Failure as problem:
            self.alarm(f"a key rotation does not verify: {problem}", evidence=published)
        if schedule.current != published["public_key"]:
            self.alarm(f"the server's public key {published['public_key'][:16]}… is not the one its rotations end "
                       f"with ({schedule.current[:16]}…)", evidence=published)
        if not self.state["trusted"]:
            self.state["trusted"] = [schedule.keys[0][1]]
            self.out(f"warning: trusting the server's key {schedule.keys[0][1][:16]}… from now on; compare it with the "
                     "one the movement publishes (or pass --public-key)")
        if schedule.keys[0][1] not in self.state["trusted"]:
            self.alarm(f"the server now signs with {published['public_key'][:16]}…, which is neither a key you trust "
                       f"({', '.join(k[:16] + '…' for k in self.state['trusted'])}) nor handed over to by one",
                       evidence=published)
        self.state["rotations"] = rotations
        self.save()
        return schedule

    def take(self, snapshot, keys):
        """Check one new signed statement against what we hold, fetching the entries it covers."""
        what = f"statement #{snapshot['id']}"
        state = self.state
        try:
            statement, version = read_statement(snapshot["statement"], snapshot["signature"], keys, what)
        except Failure as problem:
            self.alarm(str(problem), evidence=snapshot)
        if state["definition"] is None:
            if version == 2:
                try:
                    check_definition(statement["definition"], f"{what}: the signed definition")
                except Bad as problem:
                    self.alarm(str(problem), evidence=snapshot)
                state["definition"], state["genesis"] = statement["definition"], statement["genesis"]
            else:  # a poll from before format 2: its answers are known from the poll itself
                poll = fetch_json(f"{self.base}/api/v1/polls/{self.poll}")
                state["definition"] = {
                    "poll": poll["id"], "region": poll["region"], "question_en": poll["question_en"],
                    "question_ru": poll["question_ru"],
                    "answers": [{"id": o["id"], "label_en": o["label_en"], "label_ru": o["label_ru"]}
                                for o in poll["options"]],
                }
                state["genesis"] = "00" * 32
        if version == 2 and statement["definition"] != state["definition"]:
            self.alarm(f"the poll's definition changed: {what} signs "
                       f"{definition_difference(state['definition'], statement['definition'])} "
                       f"(held since the first statement)", evidence=snapshot)
        genesis = bytes.fromhex(state["genesis"])
        try:
            batches = check_statement_content(statement, version, state["definition"], genesis, what)
        except Failure as problem:
            self.alarm(str(problem), evidence=snapshot)
        signed = {k: v for k, v in statement["counts"].items() if v}
        last = state["last"]
        if state["final"]:
            self.alarm(f"{what} is published after the final result ({state['final']})", evidence=snapshot)
        if last is not None:
            if statement["position"] < last["position"]:
                self.alarm(f"{what} signs position {statement['position']}, below position {last['position']} of "
                           f"{last['what']} you hold: the server's history does not extend the one you hold",
                           evidence=snapshot)
            if last.get("taken_at") and parse_time(statement["taken_at"]) < parse_time(last["taken_at"]):
                self.alarm(f"{what} is taken at {statement['taken_at']}, before {last['what']} you hold "
                           f"({last['taken_at']}): a statement's time never goes back (check 53)", evidence=snapshot)
            for answer, count in last["counts"].items():
                if signed.get(answer, 0) < count:
                    self.alarm(f"counts went down: {what} gives answer {answer} {signed.get(answer, 0)}, "
                               f"{last['what']} you hold gave it {count}", evidence=snapshot)
        new_entries = 0
        if statement["position"] > state["position"]:
            new_entries = self.follow_ledger(statement["position"], what, snapshot)
        if statement["position"] == 0:
            head = state["genesis"]
        else:
            head = state["head"]
        if statement["head_hash"] != head:
            self.alarm(f"{what} signs head {statement['head_hash'][:16]}… at position {statement['position']}, but "
                       f"the chain you hold has {head[:16]}… there"
                       + (f" (signed in {last['what']})" if last and last["position"] == statement["position"] else "")
                       + ": a fork", evidence=snapshot)
        if signed != {k: v for k, v in state["counts"].items() if v}:
            self.alarm(f"{what} signs counts {signed}, but the ledger up to position {statement['position']} "
                       f"recounts {state['counts']}", evidence=snapshot)
        self.keep(snapshot)
        state["statements"] += 1
        state["last"] = {"position": statement["position"], "counts": signed, "what": what,
                         "taken_at": statement["taken_at"],
                         "batches": {b: list(v) for b, v in batches.items()}}
        if statement["final"]:
            state["final"] = what
        return new_entries

    def follow_ledger(self, up_to, what, snapshot):
        """Fetch and verify the entries after the position we hold, up to `up_to`."""
        state = self.state
        answers = {a["id"] for a in state["definition"]["answers"]}
        prev = bytes.fromhex(state["head"] or state["genesis"])
        fetched = 0
        while state["position"] < up_to:
            limit = min(LEDGER_PAGE, up_to - state["position"])
            page = fetch_json(f"{self.base}/api/v1/polls/{self.poll}/ledger?after={state['position']}&limit={limit}")
            entries = page.get("entries") or []
            if not entries:
                self.alarm(f"{what} signs position {up_to}, but the server's ledger ends at {state['position']}",
                           evidence={"statement": snapshot, "ledger_page": page})
            for entry in entries:
                position = state["position"] + 1
                try:
                    if entry["position"] != position or entry["poll"] != self.poll:
                        raise Failure(f"entry {entry.get('position')}: expected entry {position} of poll {self.poll}")
                    if entry["option"] not in answers:
                        raise Failure(f"entry {position}: answer {entry['option']} is not an answer of the poll")
                    if _hex(entry["prev_hash"], f"entry {position}: prev_hash", 32) != prev:
                        held = f"signed in {state['last']['what']}, which you hold" if state["last"] else \
                            "the genesis"
                        self.alarm(f"fork at position {position}: the server's entry {position} follows "
                                   f"{entry['prev_hash'][:16]}…, but the chain you hold ends at position "
                                   f"{position - 1} with {prev.hex()[:16]}… ({held}): the history was rewritten",
                                   evidence={"statement": snapshot, "entry": entry})
                    computed = entry_hash(prev, position, self.poll, entry["option"],
                                          _hex(entry["tracker_hash"], f"entry {position}: tracker_hash", 32))
                    if computed.hex() != entry["entry_hash"]:
                        raise Failure(f"entry {position}: entry_hash does not match its contents")
                except (Failure, Bad, KeyError, TypeError) as problem:
                    self.alarm(f"the ledger the server serves is broken: {problem}",
                               evidence={"statement": snapshot, "entry": entry})
                prev = computed
                option = str(entry["option"])
                state["counts"][option] = state["counts"].get(option, 0) + 1
                state["position"], state["head"] = position, computed.hex()
                fetched += 1
            self.save()
        return fetched


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tallying.watch", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the poll's API address, e.g. https://vote.example.org/api/v1/polls/1")
    parser.add_argument("--dir", required=True, help="where the statements you hold are kept")
    parser.add_argument("--every", type=float, metavar="SECONDS", help="keep watching, a run every SECONDS")
    parser.add_argument("--public-key", action="append", default=[], metavar="HEX",
                        help="a published Ed25519 public key you trust (hex); repeat for several")
    parser.add_argument("--verbose", action="store_true", help="say what each run found, also when all is well")
    args = parser.parse_args(argv)
    try:
        watch = Watch(args.url, args.dir, args.public_key, verbose=args.verbose)
    except ValueError as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    while True:
        try:
            watch.run_once()
        except Alarm as alarm:
            print(alarm, file=sys.stderr)
            return 1
        except ValueError as problem:
            print(f"error: {problem}", file=sys.stderr)
            return 2
        except Unreachable as problem:
            print(f"warning: could not reach the server: {problem}", file=sys.stderr)
            if not args.every:
                return 3
        if not args.every:
            return 0
        sys.stdout.flush()
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
