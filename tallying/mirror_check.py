"""Check a signed mirror of the public results (tallying/mirrors.py). Standard library plus
`cryptography`, like the verifier: it ships in every bundle's verifier/ folder.

    python -m tallying.mirror_check MIRROR [--public-key HEX ...] [--reference ORIGIN_OR_MIRROR]
                                           [--max-age SECONDS] [--verify-exports]

MIRROR is the bundle's folder or its URL (the folder that holds manifest.json). The check fails
(exit status 1, naming the first problem) when:

- manifest.json is not canonical JSON signed (Ed25519) by a key you trust (--public-key, or the
  key the mirror itself publishes, with a warning: a forger would publish their own);
- any file it lists is missing, or its size or SHA-256 differs (a tampered mirror); in a folder,
  also any file it does not list (something added: a page, a script);
- the mirror is stale: its newest signed statement is older than the reference's (--reference:
  the origin, whose API gives its latest statements, or another mirror), or than --max-age seconds;
- with --verify-exports, any export fails `python -m tallying.verify`.
"""

import argparse
import hashlib
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from tallying.canonical import NotCanonical, parse_canonical
from tallying.signing import verify as verify_signature

MANIFEST = "manifest.json"
USER_AGENT = "referendum-mirror-check/1"


class MirrorProblem(Exception):
    pass


def _is_url(source):
    return source.startswith(("http://", "https://"))


def read(source, name):
    """The bytes of `name` inside the mirror (a folder or a URL), or None when it is absent."""
    if _is_url(source):
        url = source.rstrip("/") + "/" + name
        try:
            request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.read()
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise MirrorProblem(f"{url}: HTTP {error.code}") from None
        except OSError as error:
            raise MirrorProblem(f"{url}: cannot be read ({error})") from None
    path = Path(source) / name
    return path.read_bytes() if path.is_file() else None


def _trusted_keys(source, keys, manifest_key, warn):
    """The keys a manifest may be signed with: the ones given, and those the mirror's published
    rotations hand over to from one of them."""
    published = read(source, "api/v1/public-key.json")
    info = json.loads(published) if published else {}
    if not keys:
        warn("WARNING: no --public-key given: trusting the key this mirror publishes; compare "
             f"{manifest_key} with the key the movement publishes through its own channels")
        return {info.get("public_key") or manifest_key}
    trusted = set(keys)
    rotations = info.get("rotations") or []
    if rotations:
        from tallying.verify import Failure, KeySchedule, _first_key

        try:
            schedule = KeySchedule(_first_key(rotations[0], 1))
            if schedule.current in trusted:
                for number, record in enumerate(rotations, start=1):
                    schedule.rotate(record, f"rotation {number}")
                trusted |= set(schedule.all())
        except Failure as problem:
            raise MirrorProblem(f"the mirror's key rotations do not verify: {problem}") from None
    return trusted


def read_manifest(source, keys=None, warn=print):
    """The manifest's statement (a dict) once its signature verifies with a trusted key."""
    raw = read(source, MANIFEST)
    if raw is None:
        raise MirrorProblem(f"no {MANIFEST}: not a mirror, or an incomplete one")
    try:
        manifest = json.loads(raw)
        text, signature = manifest["statement"], manifest["signature"]
        statement = parse_canonical(text)
    except (ValueError, KeyError, TypeError, NotCanonical) as problem:
        raise MirrorProblem(f"{MANIFEST} is not a signed manifest ({problem})") from None
    if not isinstance(statement, dict) or statement.get("kind") != "mirror-manifest":
        raise MirrorProblem(f"{MANIFEST} is not a mirror manifest")
    key = statement.get("public_key", "")
    if key not in _trusted_keys(source, keys, key, warn):
        raise MirrorProblem(f"{MANIFEST} is signed by {key[:16]}…, not a key you trust")
    if not verify_signature(key, text, signature):
        raise MirrorProblem(f"{MANIFEST}: the signature does not verify (the manifest was changed)")
    return statement


def _time(value):
    return datetime.fromisoformat(value) if value else None


def newest_statement(source, keys=None):
    """The time of the newest signed statement a reference holds: a mirror (its verified
    manifest) or the origin (the statements its tally API gives, each verified)."""
    if read(source, MANIFEST) is not None:
        return _time(read_manifest(source, keys, warn=lambda *_: None).get("newest_statement"))
    if not _is_url(source):
        raise MirrorProblem(f"{source}: neither a mirror nor an origin URL")
    polls = json.loads(read(source, "api/v1/polls") or b"[]")
    polls = polls.get("polls", polls) if isinstance(polls, dict) else polls
    key = json.loads(read(source, "api/v1/public-key") or b"{}").get("public_key")
    newest = None
    for poll in polls:
        tally = json.loads(read(source, f"api/v1/polls/{poll['id']}/tally") or b"{}")
        signed = tally.get("statement")
        if not signed:
            continue
        if not any(verify_signature(k, signed["text"], signed["signature"]) for k in (keys or [key])):
            raise MirrorProblem(f"{source}: poll {poll['id']}'s latest statement does not verify")
        taken = _time(json.loads(signed["text"])["taken_at"])
        newest = taken if newest is None or taken > newest else newest
    return newest


def check_files(source, statement):
    """Every listed file present with its size and SHA-256; in a folder, nothing unlisted."""
    files = statement.get("files") or {}
    problems = []
    for name, meta in sorted(files.items()):
        if name.startswith("/") or ".." in name.split("/"):
            problems.append(f"{name}: not a path inside the mirror")
            continue
        data = read(source, name)
        if data is None:
            problems.append(f"{name}: missing")
        elif len(data) != meta["size"] or hashlib.sha256(data).hexdigest() != meta["sha256"]:
            problems.append(f"{name}: its content differs from the signed manifest (changed on this mirror)")
        if len(problems) >= 10:
            break
    if not _is_url(source):
        root = Path(source)
        for path in sorted(root.rglob("*")):
            name = path.relative_to(root).as_posix()
            if "__pycache__" in path.parts:
                continue  # written by Python when the shipped verifier runs from the copy
            if path.is_file() and name != MANIFEST and name not in files:
                problems.append(f"{name}: not in the signed manifest (added on this mirror)")
                if len(problems) >= 10:
                    break
    if problems:
        raise MirrorProblem("; ".join(problems))
    return len(files)


def check_mirror(source, public_keys=None, reference=None, max_age=None, verify_exports=False, warn=print,
                 now=None):
    """Check one mirror; return a summary dict, or raise MirrorProblem naming what is wrong."""
    statement = read_manifest(source, public_keys, warn)
    count = check_files(source, statement)
    newest = _time(statement.get("newest_statement"))
    summary = {"files": count, "built_at": statement["taken_at"], "newest_statement": newest,
               "public_key": statement["public_key"], "polls": statement.get("polls", {}),
               "addresses": statement.get("addresses") or {}}
    if reference:
        theirs = newest_statement(reference, public_keys)
        if theirs is not None and (newest is None or newest < theirs):
            raise MirrorProblem(
                f"stale: its newest statement is {newest.isoformat() if newest else 'none'}, "
                f"{reference} has one of {theirs.isoformat()}"
            )
    if max_age is not None and newest is not None:
        age = ((now or datetime.now(UTC)) - newest).total_seconds()
        if age > max_age:
            raise MirrorProblem(f"stale: its newest statement is {age:.0f} s old (more than {max_age:g} s)")
    if verify_exports:
        from tallying.verify import Failure, verify_export

        for name in sorted(n for n in statement["files"] if n.startswith("export/")):
            location = (source.rstrip("/") + "/" + name) if _is_url(source) else str(Path(source) / name)
            try:
                verify_export(location, public_keys or [statement["public_key"]], out=lambda *_: None)
            except Failure as problem:
                raise MirrorProblem(f"{name}: {problem}") from None
        summary["exports_verified"] = True
    return summary


def describe(source, summary):
    newest = summary["newest_statement"].isoformat() if summary["newest_statement"] else "none yet"
    return (f"OK {source}: manifest signed by {summary['public_key'][:16]}… (built {summary['built_at']}), "
            f"{summary['files']} files match it; newest statement {newest}"
            + ("; every export verifies" if summary.get("exports_verified") else "")
            + "".join(f"\n  signed {kind} addresses: {', '.join(urls)}"
                      for kind, urls in sorted(summary.get("addresses", {}).items()) if urls))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tallying.mirror_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("mirror", help="the mirror's folder or URL (where manifest.json is)")
    parser.add_argument("--public-key", action="append", metavar="HEX", help="a key you trust (repeatable)")
    parser.add_argument("--reference", metavar="ORIGIN_OR_MIRROR",
                        help="the origin's URL or another mirror: this one must not hold an older statement")
    parser.add_argument("--max-age", type=float, metavar="SECONDS",
                        help="fail when the newest statement is older than this")
    parser.add_argument("--verify-exports", action="store_true", help="also run the verifier on every export")
    args = parser.parse_args(argv)
    try:
        summary = check_mirror(args.mirror, args.public_key, args.reference, args.max_age, args.verify_exports)
    except MirrorProblem as problem:
        print(f"FAIL {args.mirror}: {problem}")
        return 1
    print(describe(args.mirror, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
