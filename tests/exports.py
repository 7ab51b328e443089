"""Helpers for the verification tests: exports through the real API, the verifier and watcher as
observers run them, and a malicious operator's rewrite of a poll's history (same key)."""

import json
import subprocess
import sys
from collections import Counter

from django.db import connection
from django.test import Client

from tallying import ledger, signing
from tallying.models import LedgerEntry, OptionCount, PollHead, Snapshot
from tests.workers import ROOT

OBSERVER_ENV = {"PATH": "/usr/bin:/bin"}  # no Django settings, no database: an observer's machine


def export_lines(poll):
    response = Client().get(f"/api/v1/polls/{poll.id}/export")
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    return b"".join(response.streaming_content).decode().splitlines(keepends=True)


def write_export(path, lines):
    path.write_text("".join(lines), encoding="utf-8")
    return path


def records(lines):
    return [json.loads(line) for line in lines]


def encode(records_):
    return [json.dumps(r, separators=(",", ":"), ensure_ascii=False) + "\n" for r in records_]


def run_module(module, *args, cwd=ROOT):
    result = subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], cwd=cwd, capture_output=True, text=True, env=OBSERVER_ENV,
        timeout=300,
    )
    return result.returncode, result.stdout + result.stderr


def verify(*args):
    return run_module("tallying.verify", *args)


def rewrite_history(poll, from_position):
    """What an operator with the database and the signing key could do: give the entry at
    `from_position` another answer, chain every later entry again, fix counts and head, and
    re-sign every statement from there on. Every check of the new history alone passes."""
    answers = list(poll.options.values_list("id", flat=True))
    head = PollHead.objects.get(poll=poll)
    entries = list(LedgerEntry.objects.filter(poll=poll).order_by("position"))
    prev = bytes(head.genesis)
    hashes = {}
    with connection.cursor() as cursor:
        for entry in entries:
            option = entry.option_id
            if entry.position == from_position:
                option = next(a for a in answers if a != option)
            new = ledger.entry_hash(prev, entry.position, poll.id, option, bytes(entry.tracker_hash))
            if entry.position >= from_position:
                cursor.execute(
                    "UPDATE tallying_ledgerentry SET option_id = %s, prev_hash = %s, entry_hash = %s WHERE id = %s",
                    [option, prev, new, entry.id],
                )
            hashes[entry.position] = (new, option)
            prev = new
    recount = Counter(option for _hash, option in hashes.values())
    for option_id in answers:
        OptionCount.objects.update_or_create(poll=poll, option_id=option_id, defaults={"count": recount[option_id]})
    PollHead.objects.filter(poll=poll).update(head_hash=prev)
    for snapshot in Snapshot.objects.filter(poll=poll, position__gte=from_position):
        statement = json.loads(snapshot.statement)
        upto = Counter(option for position, (_h, option) in hashes.items() if position <= snapshot.position)
        statement["counts"] = {key: upto[int(key)] for key in statement["counts"]}
        statement["head_hash"] = hashes[snapshot.position][0].hex()
        text, signature = signing.sign(statement)
        Snapshot.objects.filter(pk=snapshot.pk).update(
            statement=text, signature=bytes.fromhex(signature), head_hash=hashes[snapshot.position][0],
            counts={key: value for key, value in statement["counts"].items() if value},
        )
