"""Signed mirrors: after each publication, a static bundle of the public side, pushed to every
configured target (MIRROR_TARGETS, docs/configuration.md), so that observers keep the results when
the origin is blocked or down.

Guarantee: every bundle is a folder of plain files that any static server can serve (no database,
no script on the server) and that no mirror needs to be trusted for: its manifest.json lists every
file with its SHA-256 and size, with the time of the newest signed statement the bundle holds, and
is itself signed with the snapshot signing key (tallying/signing.py). A file changed on a mirror
fails its hash; a mirror that stopped updating shows its newest statement time, older than the
origin's or another mirror's (tallying/mirror_check.py checks both). The data in it is the data the
origin serves, byte for byte: the tally and snapshot JSON as the API answers them, the export as
/api/v1/polls/<id>/export streams it (at the moment of the build), the public key as
/api/v1/public-key gives it.

What changes is appended, not rebuilt: each poll's export is kept as two append-only parts (signed
statements, ledger entries) that grow by what the publication added, read from the database by
position (never the whole ledger again), and assembled into the bundle's export file; the receipt
index (receipts/<two hex digits>.txt, one line per published ballot, sharded by the first two hex
digits of its tracker hash) grows the same way; ledger pages are rendered only from the first page
that was not yet full. A build interrupted half-way is repaired by the next one: the parts are cut
back to the sizes the last complete build recorded (state.json).

Layout of a bundle (MIRROR_BUILD_DIR/bundle):

    index.html                           the two languages, the files, how to check the mirror
    en|ru/results/index.html             the results pages, without JavaScript (live-tally removed)
    en|ru/results/<region>/index.html
    en|ru/ledger/<poll>/index.html, after-<N>.html     the ledger pages, 100 entries each
    en|ru/receipt/index.html             receipt lookup (static/js/mirror-receipt.js; no-JS: the shards)
    receipts/<xx>.txt                    "<tracker hash> <poll> <position> <answer id>" per line
    api/v1/public-key.json               as GET /api/v1/public-key
    api/v1/polls/<id>/tally.json         as GET /api/v1/polls/<id>/tally (with the signed statement)
    api/v1/polls/<id>/snapshots.json, snapshots-after-<id>.json    as GET …/snapshots[?after=<id>]
    export/poll-<id>.jsonl               as GET /api/v1/polls/<id>/export (docs/verification.md)
    static/…                             the CSS and JavaScript the pages use
    verifier/                            the verifier, the mirror checker, the spec, README.txt
    manifest.json                        {"statement": canonical JSON, "signature": Ed25519 hex}

Builds run in the Celery worker where sealing runs (it holds the signing key): the beat task
tallying.mirror_tick looks every MIRROR_INTERVAL_SECONDS for a new publication (a newer signed
statement, or a poll newly public) and builds only then; each target out of date is pushed by
tallying.push_mirror, retried with backoff when it fails (counted on /metrics).
"""

import hashlib
import html
import itertools
import json
import logging
import mimetypes
import os
import posixpath
import re
import shutil
import time
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.template.loader import render_to_string
from django.test import Client, RequestFactory
from django.urls import Resolver404, resolve
from django.utils import timezone, translation

from ballots.queries import public_polls

from . import queries, signing
from .api import jsonl_line
from .mirror_targets import Target, parse_targets  # noqa: F401 — Target for callers
from .models import LedgerEntry

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
LEDGER_PAGE = 100  # as tallying.views.ledger
SNAPSHOT_PAGE = queries.STATEMENT_PAGE  # the API's default page
# pg_try_advisory_lock(namespace, 0): one build or push at a time, whichever worker runs it.
MIRROR_LOCK_NAMESPACE = 0x5EA2
# Shipped in verifier/ so that an observer needs nothing else (standard library + cryptography).
VERIFIER_MODULES = ("__init__.py", "canonical.py", "ledger.py", "signing.py", "verify.py", "watch.py",
                    "mirror_check.py")
SHARD_DIGITS = 2


class MirrorError(Exception):
    pass


# --- targets -------------------------------------------------------------------------------------


def targets():
    return parse_targets(settings.MIRROR_TARGETS)


def target_named(name):
    for target in targets():
        if target.name == name:
            return target
    raise MirrorError(f"no mirror target named {name!r} in MIRROR_TARGETS")


# --- the work folder and its state ---------------------------------------------------------------


def build_dir():
    return Path(settings.MIRROR_BUILD_DIR)


def bundle_dir():
    return build_dir() / "bundle"


def _state_path():
    return build_dir() / "state.json"


def load_state():
    try:
        return json.loads(_state_path().read_text())
    except FileNotFoundError:
        return {}


def save_state(state):
    _write_atomic(_state_path(), json.dumps(state, sort_keys=True).encode())


def _write_atomic(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(temp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temp, path)


@contextmanager
def mirror_lock():
    """True when this process holds the mirror lock (a PostgreSQL session advisory lock, released
    when the block ends or the connection dies), False when another build or push holds it."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, 0)", [MIRROR_LOCK_NAMESPACE])
        held = cursor.fetchone()[0]
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [MIRROR_LOCK_NAMESPACE])


# --- what a publication changes ------------------------------------------------------------------


def publication_marker():
    """What the last bundle must match: the newest signed statement and the public polls. A new
    publication (or a poll leaving draft) changes it."""
    newest = queries.Snapshot.objects.filter(signature__isnull=False).exclude(statement="").aggregate(n=Max("id"))["n"]
    return {"snapshot": newest or 0, "polls": sorted(public_polls().values_list("id", flat=True))}


# --- rendering the origin's own responses --------------------------------------------------------


def _origin():
    parts = urlsplit(settings.MIRROR_ORIGIN_URL)
    return parts.scheme or "https", parts.netloc


def _client():
    scheme, host = _origin()
    return Client(HTTP_HOST=host, HTTP_X_FORWARDED_PROTO=scheme, secure=scheme == "https")


def _get(client, path, language=None, **params):
    headers = {"HTTP_ACCEPT_LANGUAGE": language} if language else {}
    response = client.get(path, params or None, **headers)
    if response.status_code != 200:
        raise MirrorError(f"GET {path} {params or ''} answered {response.status_code}")
    return response.content


class Pages:
    """Renders pages in one language and rewrites their links to paths inside the bundle."""

    def __init__(self, out, polls, language):
        self.out, self.language = out, language
        self.poll_ids = {p.id for p in polls}
        self.slugs = {p.region.slug for p in polls}
        self.static = set()

    def page_path(self, view, *args, after=0):
        """The bundle path of a page, or None when the bundle does not hold it."""
        lang = self.language
        if view == "results":
            return f"{lang}/results/index.html"
        if view == "region-results" and args[0] in self.slugs:
            return f"{lang}/results/{args[0]}/index.html"
        if view == "ledger" and int(args[0]) in self.poll_ids:
            return f"{lang}/ledger/{args[0]}/" + ("index.html" if not after else f"after-{after}.html")
        if view == "verify-receipt":
            return f"{lang}/receipt/index.html"
        if view == "api-export" and int(args[0]) in self.poll_ids:
            return f"export/poll-{args[0]}.jsonl"
        if view == "api-tally" and int(args[0]) in self.poll_ids:
            return f"api/v1/polls/{args[0]}/tally.json"
        if view == "api-public-key":
            return "api/v1/public-key.json"
        return None

    def _target(self, url, page_url):
        parts = urlsplit(html.unescape(url))
        path = parts.path or urlsplit(page_url).path
        if path.startswith(settings.STATIC_URL):
            name = path[len(settings.STATIC_URL):]
            self.static.add(name)
            return f"static/{name}"
        try:
            match = resolve(path)
        except Resolver404:
            return None
        try:
            after = int(parse_qs(parts.query).get("after", ["0"])[0])
        except ValueError:
            return None
        return self.page_path(match.url_name, *match.kwargs.values(), *match.args, after=after)

    def rewrite(self, body, page, page_url):
        """Links to what the bundle holds become relative paths; the rest point to the origin.
        The language switch (a POST form) becomes links; the live refresh (it asks the origin's
        API) is left out: a mirror shows the figures of its build."""
        text = body.decode("utf-8")
        here = posixpath.dirname(page)
        scheme, host = _origin()

        def link(match):
            url = match.group("url")
            target = self._target(url, page_url)
            if target is None:
                absolute = urlsplit(html.unescape(url))
                path = absolute.path or urlsplit(page_url).path
                new = f"{scheme}://{host}{path}" + (f"?{absolute.query}" if absolute.query else "")
            else:
                new = posixpath.relpath(target, here or ".")
            return f'{match.group("attr")}="{html.escape(new)}"'

        text = re.sub(r'(?P<attr>\b(?:href|src|action))="(?P<url>[/?][^"]*)"', link, text)
        text = re.sub(r'<script src="[^"]*live-tally[^"]*"[^>]*></script>', "", text)
        switch = ['<nav class="lang-switch">']
        for code, _name in settings.LANGUAGES:
            if code == self.language:
                switch.append(f'<span aria-current="true">{code.upper()}</span>')
            else:
                other = f"{code}/{page.partition('/')[2]}"
                switch.append(f'<a href="{posixpath.relpath(other, here)}" hreflang="{code}">{code.upper()}</a>')
        switch.append("</nav>")
        text = re.sub(r'<form class="lang-switch".*?</form>', "\n".join(switch), text, count=1, flags=re.S)
        return text.encode("utf-8")

    def write(self, page, body, page_url):
        _write_atomic(self.out / page, self.rewrite(body, page, page_url))


# --- the export and the receipt index, appended ---------------------------------------------------


def _truncate(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.truncate(size)


def _append_export_parts(poll, work, poll_state, shard_sizes):
    """Append the statements and entries published since the last build to the poll's parts and
    the receipt shards; return the poll's new state."""
    parts = work / "parts" / f"poll-{poll.id}"
    snapshots_path, entries_path = parts / "snapshots.jsonl", parts / "entries.jsonl"
    _truncate(snapshots_path, poll_state.get("snapshots_bytes", 0))
    _truncate(entries_path, poll_state.get("entries_bytes", 0))
    state = dict(poll_state)
    # Statements first, then entries: a statement read here is covered by the entries read after it.
    new_snapshots = (
        queries.signed_snapshots(poll).filter(id__gt=state.get("snapshot_id", 0)).order_by("id")
        .values_list("id", "statement", "signature", "taken_at")
    )
    with open(snapshots_path, "ab") as out:
        for snapshot_id, statement, signature, taken_at in new_snapshots.iterator(chunk_size=queries.EXPORT_CHUNK):
            out.write(jsonl_line({"type": "snapshot", "statement": statement, "signature": bytes(signature).hex()}))
            state["snapshot_id"] = snapshot_id
            state["snapshots"] = state.get("snapshots", 0) + 1
            state["newest_statement"] = taken_at.isoformat()
        state["snapshots_bytes"] = out.tell()
    entries = (
        LedgerEntry.objects.filter(poll=poll, position__gt=state.get("position", 0)).order_by("position")
        .values_list("position", "option_id", "tracker_hash", "prev_hash", "entry_hash")
        .iterator(chunk_size=queries.EXPORT_CHUNK)
    )
    shards = {}
    with open(entries_path, "ab") as out:
        for position, option, tracker_hash, prev_hash, entry_hash in entries:
            tracker_hex = bytes(tracker_hash).hex()
            out.write(jsonl_line({
                "type": "entry", "position": position, "poll": poll.id, "option": option,
                "tracker_hash": tracker_hex, "prev_hash": bytes(prev_hash).hex(), "entry_hash": bytes(entry_hash).hex(),
            }))
            shards.setdefault(tracker_hex[:SHARD_DIGITS], []).append(f"{tracker_hex} {poll.id} {position} {option}\n")
            state["position"] = position
        state["entries_bytes"] = out.tell()
    for shard, lines in shards.items():
        path = work / "bundle" / "receipts" / f"{shard}.txt"
        _truncate(path, shard_sizes.get(shard, 0))
        with open(path, "ab") as out:
            out.write("".join(lines).encode("ascii"))
            shard_sizes[shard] = out.tell()
    return state


def _export_header(poll):
    """The poll record and key rotations, by the code that serves /export (only those records are
    read from its generator: the statements and entries come from the appended parts)."""
    rotations = signing.rotations()
    lines = queries.export_lines(poll, signing.public_key_hex(), jsonl_line, rotations)
    try:
        return b"".join(itertools.islice(lines, 1 + len(rotations)))
    finally:
        lines.close()


def _assemble_export(poll, work, state):
    parts = work / "parts" / f"poll-{poll.id}"
    path = work / "bundle" / "export" / f"poll-{poll.id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "wb") as out:
        out.write(_export_header(poll))
        for part, size in (("snapshots.jsonl", state["snapshots_bytes"]), ("entries.jsonl", state["entries_bytes"])):
            with open(parts / part, "rb") as source:
                _copy_bytes(source, out, size)
        out.write(jsonl_line({"type": "end", "snapshots": state.get("snapshots", 0), "entries": state.get("position", 0)}))
    os.replace(temp, path)


def _copy_bytes(source, out, size):
    left = size
    while left:
        chunk = source.read(min(left, 1 << 20))
        if not chunk:
            raise MirrorError(f"{source.name} is shorter than the {size} bytes recorded")
        out.write(chunk)
        left -= len(chunk)


# --- the build -----------------------------------------------------------------------------------


def _snapshot_pages(client, poll, out, after):
    """The snapshot API's pages from `after` on, as served; return the `after` of the last page
    (the first one that is not full: it is fetched again next time)."""
    while True:
        body = _get(client, f"/api/v1/polls/{poll.id}/snapshots", **({"after": after} if after else {}))
        name = "snapshots.json" if not after else f"snapshots-after-{after}.json"
        _write_atomic(out / "api" / "v1" / "polls" / str(poll.id) / name, body)
        following = json.loads(body)["next_after"]
        if following is None:
            return after
        after = following


def _ledger_pages(client, pages, poll, start, position, language):
    """Render the ledger pages from `start` (a multiple of 100) to the end; return the start of the
    last page, the first that is not full (rendered again next time). A full page links to the
    next one, so that one is rendered too, even empty."""
    after = start
    while True:
        body = _get(client, f"/ledger/{poll.id}/", language, **({"after": after} if after else {}))
        page = pages.page_path("ledger", poll.id, after=after)
        pages.write(page, body, f"/ledger/{poll.id}/")
        if position - after < LEDGER_PAGE:
            return after
        after += LEDGER_PAGE


def _render_own(template, context, language, path):
    """One of the mirror's own pages (index, receipt lookup), rendered like a view would."""
    scheme, host = _origin()
    request = RequestFactory().get(path, HTTP_HOST=host, secure=scheme == "https")
    request.resolver_match = None
    with translation.override(language):
        return render_to_string(template, context, request=request).encode("utf-8")


def _copy_static(names, out):
    from django.contrib.staticfiles import finders
    from django.contrib.staticfiles.storage import staticfiles_storage

    for name in sorted(names):
        target = out / "static" / name
        try:
            with staticfiles_storage.open(name) as source:
                data = source.read()
        except (FileNotFoundError, OSError, ValueError):
            found = finders.find(name)
            if not found:
                raise MirrorError(f"static file {name} not found") from None
            data = Path(found).read_bytes()
        _write_atomic(target, data)


def _copy_verifier(out):
    here = Path(__file__).resolve().parent
    for name in VERIFIER_MODULES:
        _write_atomic(out / "verifier" / "tallying" / name, (here / name).read_bytes())
    _write_atomic(out / "verifier" / "verification.md", (settings.BASE_DIR / "docs" / "verification.md").read_bytes())
    _write_atomic(out / "verifier" / "README.txt", render_to_string("tallying/mirror_verifier.txt", {
        "key": signing.public_key_hex(), "origin": settings.MIRROR_ORIGIN_URL,
    }).encode("utf-8"))


def build_bundle(marker=None):
    """Bring MIRROR_BUILD_DIR/bundle up to the latest publication and sign its manifest. Call with
    the mirror lock held. Returns the signed manifest (a dict)."""
    work = build_dir()
    out = work / "bundle"
    out.mkdir(parents=True, exist_ok=True)
    state = load_state()
    marker = marker or publication_marker()
    polls = list(public_polls())
    client = _client()
    poll_states, shard_sizes = dict(state.get("polls", {})), dict(state.get("shards", {}))
    for poll in polls:
        poll_states[str(poll.id)] = _append_export_parts(poll, work, poll_states.get(str(poll.id), {}), shard_sizes)
        _assemble_export(poll, work, poll_states[str(poll.id)])
        # The tally as the API serves it; the snapshot pages, fetched again only from the last
        # page that was not full.
        _write_atomic(out / "api" / "v1" / "polls" / str(poll.id) / "tally.json",
                      _get(client, f"/api/v1/polls/{poll.id}/tally"))
        poll_state = poll_states[str(poll.id)]
        poll_state["snapshot_pages_after"] = _snapshot_pages(client, poll, out, poll_state.get("snapshot_pages_after", 0))
    _write_atomic(out / "api" / "v1" / "public-key.json", _get(client, "/api/v1/public-key"))
    static = set()
    for language, _name in settings.LANGUAGES:
        pages = Pages(out, polls, language)
        pages.write(pages.page_path("results"), _get(client, "/results/", language), "/results/")
        for slug in sorted(pages.slugs):
            path = f"/results/{slug}/"
            pages.write(pages.page_path("region-results", slug), _get(client, path, language), path)
        for poll in polls:
            poll_state = poll_states[str(poll.id)]
            key = f"ledger_after_{language}"
            poll_state[key] = _ledger_pages(client, pages, poll, poll_state.get(key, 0), poll_state.get("position", 0),
                                            language)
        receipt = pages.page_path("verify-receipt")
        pages.write(receipt, _render_own("tallying/mirror_receipt.html", {
            "polls": [_poll_legend(poll, language) for poll in polls],
            "shards": [f"{i:02x}" for i in range(16 ** SHARD_DIGITS)],
            "shard_base": posixpath.relpath("receipts", posixpath.dirname(receipt)),
            "newest_statement": _newest(poll_states),
        }, language, "/verify/"), "/verify/")
        static |= pages.static
    static.add("js/mirror-receipt.js")
    _copy_static(static, out)
    _copy_verifier(out)
    _write_atomic(out / "index.html", _render_own("tallying/mirror_index.html", {
        "polls": polls, "newest_statement": _newest(poll_states), "origin": settings.MIRROR_ORIGIN_URL,
        "key": signing.public_key_hex(), "languages": [code for code, _n in settings.LANGUAGES],
    }, settings.LANGUAGE_CODE, "/"))
    manifest = sign_manifest(out, poll_states, state.setdefault("hashes", {}))
    state.update({"marker": marker, "polls": poll_states, "shards": shard_sizes,
                  "manifest_sha256": hashlib.sha256(manifest_bytes(manifest)).hexdigest()})
    save_state(state)
    return manifest


def _poll_legend(poll, language):
    with translation.override(language):
        return {
            "poll": poll.id, "region": str(poll.region.name),
            "answers": {str(o.id): (o.label_ru if language == "ru" else o.label_en) for o in poll.options.all()},
        }


def _newest(poll_states):
    times = [s["newest_statement"] for s in poll_states.values() if s.get("newest_statement")]
    return max(times, key=datetime.fromisoformat) if times else None


# --- the manifest --------------------------------------------------------------------------------


def _file_hashes(out, cache):
    """{path: {"sha256", "size"}} of every file in the bundle but the manifest; a file whose size
    and modification time are unchanged since the last build is not read again."""
    files = {}
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.name.startswith("."):
            continue
        name = path.relative_to(out).as_posix()
        if name == MANIFEST:
            continue
        stat = path.stat()
        known = cache.get(name)
        if known and known[0] == stat.st_size and known[1] == stat.st_mtime_ns:
            digest = known[2]
        else:
            digest = _sha256_file(path)
            cache[name] = [stat.st_size, stat.st_mtime_ns, digest]
        files[name] = {"sha256": digest, "size": stat.st_size}
    for name in set(cache) - set(files):
        del cache[name]
    return files


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def manifest_bytes(manifest):
    return (json.dumps(manifest, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def sign_manifest(out, poll_states, hash_cache):
    """Sign the list of files with the time of the newest statement and each poll's head."""
    statement = {
        "format": MANIFEST_FORMAT,
        "kind": "mirror-manifest",
        "taken_at": timezone.now().isoformat(),
        "newest_statement": _newest(poll_states),
        "origin": settings.MIRROR_ORIGIN_URL,
        # Where to vote and where the other mirrors are, signed: a reader whose domain is blocked
        # finds the others here (VOTING_ADDRESSES, MIRROR_ADDRESSES).
        "addresses": {"voting": settings.VOTING_ADDRESSES, "mirrors": settings.MIRROR_ADDRESSES},
        "public_key": signing.public_key_hex(),
        "polls": {
            poll: {"position": s.get("position", 0), "statements": s.get("snapshots", 0),
                   "newest_statement": s.get("newest_statement")}
            for poll, s in sorted(poll_states.items())
        },
        "files": _file_hashes(out, hash_cache),
    }
    text, signature = signing.sign(statement)
    manifest = {"statement": text, "signature": signature}
    _write_atomic(out / MANIFEST, manifest_bytes(manifest))
    return manifest


# --- pushing ---------------------------------------------------------------------------------------


def _manifest_files(manifest):
    return json.loads(manifest["statement"])["files"]


def current_manifest():
    try:
        return json.loads((bundle_dir() / MANIFEST).read_text())
    except FileNotFoundError:
        raise MirrorError("no bundle has been built yet") from None


def push(target, manifest=None):
    """Copy the current bundle to the target: local folders by an atomic switch, S3 by uploading
    the files that changed and the manifest last."""
    manifest = manifest or current_manifest()
    if target.kind == "file":
        push_local(Path(urlsplit(target.url).path), manifest)
    elif target.kind == "s3":
        push_s3(target.url, manifest)
    else:
        raise MirrorError(f"unknown target kind {target.kind}")


def push_local(folder, manifest, keep=2):
    """`folder` becomes a symbolic link to a complete new release beside it
    (<folder>.releases/<id>), switched in one rename: a reader sees the old bundle or the new one,
    never half of each. Files unchanged since the previous release are hard links to it; the last
    `keep` releases are kept (a reader may still be in the old one)."""
    source = bundle_dir()
    releases = folder.parent / f"{folder.name}.releases"
    releases.mkdir(parents=True, exist_ok=True)
    previous_dir = folder.resolve() if folder.is_symlink() else None
    previous = {}
    if previous_dir is not None and (previous_dir / MANIFEST).is_file():
        previous = _manifest_files(json.loads((previous_dir / MANIFEST).read_text()))
    if folder.exists() and not folder.is_symlink():
        raise MirrorError(f"{folder} exists and is not a link this mirror manages; move it away first")
    release = releases / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    temp = releases / f".{release.name}.tmp"
    files = _manifest_files(manifest)
    for name, meta in files.items():
        destination = temp / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        if previous.get(name) == meta:
            try:
                os.link(previous_dir / name, destination)
                continue
            except OSError:
                pass
        shutil.copyfile(source / name, destination)
    (temp / MANIFEST).write_bytes(manifest_bytes(manifest))
    os.rename(temp, release)
    link = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.link")
    os.symlink(release, link)
    os.replace(link, folder)
    for old in sorted(p for p in releases.iterdir() if not p.name.startswith("."))[:-keep]:
        if old != release and old != previous_dir:
            shutil.rmtree(old, ignore_errors=True)


def s3_location(url):
    """(bucket, key prefix, client options) of s3://bucket/prefix?endpoint=…&region=…"""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    options = {"endpoint_url": query.get("endpoint", [None])[0], "region_name": query.get("region", ["us-east-1"])[0]}
    prefix = parts.path.strip("/")
    return parts.netloc, (prefix + "/" if prefix else ""), options


def s3_client(options):
    import boto3
    from botocore.config import Config

    # Short timeouts and a few retries of our own: a hung store fails the push (which the task
    # retries with backoff), it does not hold the worker.
    config = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
    return boto3.client("s3", config=config, **options)


def push_s3(url, manifest):
    bucket, prefix, options = s3_location(url)
    client = s3_client(options)
    source = bundle_dir()
    try:
        remote = _manifest_files(json.loads(client.get_object(Bucket=bucket, Key=prefix + MANIFEST)["Body"].read()))
    except client.exceptions.NoSuchKey:
        remote = {}
    for name, meta in _manifest_files(manifest).items():
        if remote.get(name) == meta:
            continue
        client.upload_file(str(source / name), bucket, prefix + name, ExtraArgs={"ContentType": content_type(name)})
    # The manifest last: until it is in place, readers see the previous one.
    client.put_object(Bucket=bucket, Key=prefix + MANIFEST, Body=manifest_bytes(manifest),
                      ContentType="application/json", CacheControl="no-cache")


def content_type(name):
    if name.endswith(".jsonl"):
        return "application/x-ndjson"
    if name.endswith(".txt") or name.endswith(".py") or name.endswith(".md"):
        return "text/plain; charset=utf-8"
    guessed = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return guessed + ("; charset=utf-8" if guessed.startswith("text/") or guessed.endswith("javascript") else "")


# --- the periodic work ---------------------------------------------------------------------------


PENDING_SECONDS = 15 * 60  # a push task not heard of for this long is enqueued again


def tick(enqueue_push):
    """Build when a publication happened since the last bundle, then enqueue a push for every
    target that does not hold the current bundle (once: a push in flight or retrying is not
    enqueued again). Returns "busy", "built" or "unchanged"."""
    if not targets():
        return "unchanged"
    with mirror_lock() as held:
        if not held:
            return "busy"
        state = load_state()
        marker = publication_marker()
        outcome = "unchanged"
        if marker != state.get("marker") or not (bundle_dir() / MANIFEST).is_file():
            build_bundle(marker)
            outcome = "built"
            state = load_state()
        pushes = state.setdefault("targets", {})
        for target in targets():
            pushed = pushes.setdefault(target.name, {})
            pending = pushed.get("pending_since")
            if pushed.get("manifest_sha256") == state["manifest_sha256"]:
                continue
            if pending and time.time() - pending < PENDING_SECONDS:
                continue
            pushed["pending_since"] = time.time()
            save_state(state)
            enqueue_push(target.name)
    return outcome


def push_target(name):
    """Push the current bundle to one target (under the mirror lock); record the outcome for
    /metrics. Raises the push's error (the task retries it)."""
    from referendum import health

    target = target_named(name)
    with mirror_lock() as held:
        if not held:
            raise MirrorBusy(name)
        state = load_state()
        manifest = current_manifest()
        try:
            push(target, manifest)
        except Exception:
            health.record_mirror_push(name, ok=False)
            raise
        statement = json.loads(manifest["statement"])
        health.record_mirror_push(name, ok=True, newest_statement=statement["newest_statement"])
        state.setdefault("targets", {})[name] = {
            "manifest_sha256": hashlib.sha256(manifest_bytes(manifest)).hexdigest(), "pushed_at": time.time(),
        }
        save_state(state)


def give_up_push(name):
    """The push task ran out of retries: the next tick may enqueue it again."""
    with mirror_lock() as held:
        if held:
            state = load_state()
            state.setdefault("targets", {}).setdefault(name, {}).pop("pending_since", None)
            save_state(state)


class MirrorBusy(MirrorError):
    """Another build or push holds the mirror lock: try again shortly."""
