"""Independent verifier of a poll export. Standard library plus `cryptography`; no Django, no
database, no trust in our servers beyond the public key you compare.

    python -m tallying.verify PATH_OR_URL [--public-key HEX]

PATH_OR_URL is an export file (poll-<id>.jsonl), a folder of them, or the export URL
(https://…/api/v1/polls/<id>/export). It checks the hash chain from the first entry to the last,
positions 1..n without gaps, every snapshot's Ed25519 signature, that each snapshot's counts and
head hash equal the recount of the ledger up to its position, and that a final snapshot covers
the whole ledger. Exit status 0 only if everything holds; a failure names the first bad entry or
snapshot.
"""

import argparse
import json
import sys
import urllib.request
from pathlib import Path

from tallying.ledger import GENESIS, entry_hash
from tallying.signing import verify as verify_signature


class Failure(Exception):
    pass


def records(source):
    """(line number, record) for each line; a broken line or a missing end marker fails."""
    if source.startswith(("http://", "https://")):
        stream = (line.decode("utf-8") for line in urllib.request.urlopen(source, timeout=60))
    else:
        stream = open(source, encoding="utf-8")  # noqa: SIM115 — closed when the generator ends
    try:
        for number, line in enumerate(stream, start=1):
            if not line.endswith("\n"):
                raise Failure(f"line {number}: the file ends in the middle of a line (truncated)")
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError:
                raise Failure(f"line {number}: not valid JSON (truncated or damaged file)") from None
    finally:
        if hasattr(stream, "close"):
            stream.close()


def verify_export(source, public_key=None, out=print):
    """Verify one export; return a summary dict or raise Failure naming the first problem."""
    it = records(source)
    try:
        _number, header = next(it)
    except StopIteration:
        raise Failure("the export is empty") from None
    if header.get("type") != "poll":
        raise Failure("line 1: an export starts with the poll's definition")
    poll_id = header["id"]
    key = public_key or header["public_key"]
    if public_key and public_key != header["public_key"]:
        raise Failure("the export names another public key than the one you gave")
    if not public_key:
        out(f"warning: using the public key inside the export ({key[:16]}…); compare it with the published one")

    checkpoints = {}  # position -> list of (snapshot number, counts, head hash, final)
    snapshots = final = 0
    counts, prev, position, ended = {}, GENESIS, 0, None
    for number, record in it:
        kind = record.get("type")
        if ended is not None:
            raise Failure(f"line {number}: data after the end marker")
        if kind == "snapshot":
            snapshots += 1
            if position:
                raise Failure(f"snapshot {snapshots}: snapshots come before the ledger entries")
            if not verify_signature(key, record["statement"], record["signature"]):
                raise Failure(f"snapshot {snapshots} (line {number}): the signature does not verify")
            statement = json.loads(record["statement"])
            if statement["poll"] != poll_id:
                raise Failure(f"snapshot {snapshots}: belongs to poll {statement['poll']}, not {poll_id}")
            if statement["total"] != sum(statement["counts"].values()):
                raise Failure(f"snapshot {snapshots}: its total is not the sum of its counts")
            if final:
                raise Failure(f"snapshot {snapshots}: comes after the final snapshot")
            final = snapshots if statement.get("final") else 0
            checkpoints.setdefault(statement["position"], []).append(
                (snapshots, {k: v for k, v in statement["counts"].items() if v}, statement["head_hash"], final)
            )
        elif kind == "entry":
            position += 1
            if record["position"] != position:
                raise Failure(f"entry at line {number}: position {record['position']} where {position} was expected")
            if record["poll"] != poll_id:
                raise Failure(f"entry {position}: belongs to poll {record['poll']}")
            if bytes.fromhex(record["prev_hash"]) != prev:
                raise Failure(f"entry {position}: prev_hash does not match the previous entry")
            computed = entry_hash(prev, position, poll_id, record["option"], bytes.fromhex(record["tracker_hash"]))
            if computed.hex() != record["entry_hash"]:
                raise Failure(f"entry {position}: entry_hash does not match its contents")
            prev = computed
            option = str(record["option"])
            counts[option] = counts.get(option, 0) + 1
            for snapshot, signed_counts, head, _final in checkpoints.get(position, ()):
                if signed_counts != counts:
                    raise Failure(f"snapshot {snapshot}: its counts {signed_counts} differ from the recount {counts}")
                if head != prev.hex():
                    raise Failure(f"snapshot {snapshot}: its head hash is not entry {position}'s")
        elif kind == "end":
            ended = record
        else:
            raise Failure(f"line {number}: unknown record type {kind!r}")
    if ended is None:
        raise Failure("no end marker: the export is truncated")
    if ended["entries"] != position or ended["snapshots"] != snapshots:
        raise Failure("the end marker's totals differ from what the export holds")
    beyond = [p for p in checkpoints if p > position or p < 1]
    if beyond:
        raise Failure(f"a snapshot is signed at position {max(beyond)} but the ledger holds entries 1..{position}")
    if final:
        final_position = next(p for p, items in checkpoints.items() for s in items if s[0] == final)
        if final_position != position:
            raise Failure(
                f"the final snapshot covers {final_position} entries but the ledger holds {position}: "
                f"entries {final_position + 1}..{position} were added after the result was published"
            )
    return {"poll": poll_id, "entries": position, "snapshots": snapshots, "counts": counts,
            "head": prev.hex(), "final": bool(final)}


def sources(path_or_url):
    if path_or_url.startswith(("http://", "https://")):
        return [path_or_url]
    path = Path(path_or_url)
    if path.is_dir():
        return sorted(str(p) for p in path.glob("*.jsonl"))
    return [str(path)]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tallying.verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="an export file, a folder of exports, or the export URL")
    parser.add_argument("--public-key", help="the published Ed25519 public key (hex) to check signatures with")
    args = parser.parse_args(argv)
    found = sources(args.source)
    if not found:
        print(f"FAIL: no export found at {args.source}")
        return 1
    ok = True
    for source in found:
        try:
            summary = verify_export(source, args.public_key)
        except (Failure, KeyError, ValueError, OSError) as problem:
            print(f"FAIL {source}: {problem}")
            ok = False
            continue
        counts = ", ".join(f"option {k}: {v}" for k, v in sorted(summary["counts"].items()))
        print(
            f"OK {source}: poll {summary['poll']}, {summary['entries']} entries, chain verified to head "
            f"{summary['head'][:16]}…, {summary['snapshots']} signed snapshots verified"
            f"{', final result covers the whole ledger' if summary['final'] else ''}; recount: {counts or 'none'}"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
