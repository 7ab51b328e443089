"""Sealing benchmark: throughput over --ballots waiting ballots, and whether one batch costs the
same with an empty ledger, after them, and with --fill (10,000,000) entries already sealed.

    make bench            (or: DEBUG=1 .venv/bin/python bench/seal.py [--ballots N] [--fill N])

Sealing 10 M ballots one batch at a time would take most of an hour here, so past --ballots the
ledger is filled by SQL: stand-in entries (positions continuing the poll's chain, random-looking
tracker hashes, the head moved to the last one) and as many used codes, so that the tables and
their indexes have the size of 10 M sealed ballots. The chain of a filled poll does not verify;
it only serves to time the next batches.

Uses its own database (ref_bench, created and migrated if missing; BENCH_DATABASE_URL to change).
Prints its figures; asserts nothing (the machines are noisy: read the ratio and the medians).
"""

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DEBUG", "1")
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ref_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "referendum.settings")

BATCH = 10_000
REPEATS = 5


def setup_database():
    """Create the database if missing (as the superuser of BENCH_DATABASE_URL) and migrate it: the
    sealing figures do not depend on the two-role set-up, which bench/run.py's stack uses."""
    import psycopg
    from psycopg import sql

    url = os.environ["DATABASE_URL"]
    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def fresh_poll():
    from datetime import timedelta

    from django.utils import timezone

    from ballots.models import Option, Poll
    from regions.services import seed_regions

    region = seed_regions()[0]
    now = timezone.now()
    poll = Poll.objects.create(
        region=region, question_en="Bench?", question_ru="Тест?", state=Poll.State.DRAFT,
        opens_at=now - timedelta(minutes=1), closes_at=now + timedelta(days=1),
    )
    for i, label in enumerate(["Yes", "No", "Abstain"]):
        Option.objects.create(poll=poll, label_en=label, label_ru=label, ordering=i)
    poll.state = Poll.State.OPEN  # answers first: they are frozen once the poll leaves draft
    poll.save(update_fields=["state"])
    return poll


def timed_batches(poll, repeats, statements=None):
    """Insert one batch of fresh ballots and time its sealing, `repeats` times. `statements`, a
    Counter, receives the seconds spent in each SQL statement of the sealing (by its first words)."""
    from django.db import connection

    from tallying.services import seal_poll
    from tests.sealing import insert_ballots

    def timer(execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements[" ".join(sql.split())[:90]] += time.perf_counter() - start

    times = []
    for _ in range(repeats):
        insert_ballots(poll, BATCH)
        start = time.perf_counter()
        if statements is None:
            assert seal_poll(poll.id, batch_size=BATCH) == BATCH
        else:
            with connection.execute_wrapper(timer):
                assert seal_poll(poll.id, batch_size=BATCH) == BATCH
        times.append(time.perf_counter() - start)
    return times


def breakdown(title, statements, times, repeats):
    """Where one batch's time goes: per SQL statement (ms per batch), the rest is Python and COPY."""
    lines = [f"## {title}: median {statistics.median(times) * 1000:.0f} ms per 10,000-ballot batch", ""]
    for sql, seconds in statements.most_common(12):
        lines.append(f"{seconds / repeats * 1000:8.1f} ms  {sql}")
    rest = statistics.mean(times) - sum(statements.values()) / repeats
    lines.append(f"{rest * 1000:8.1f} ms  everything else: COPY of the entries into the ledger, the commit, "
                 "shuffling and chaining in Python, signing")
    return "\n".join(lines) + "\n"


FILL_CHUNK = 1_000_000


def fill_ledger(poll, upto):
    """Stand-in ledger entries and used codes by SQL until the poll has `upto` sealed."""
    from django.db import connection, transaction

    from ballots.models import CodeBatch
    from tallying.models import PollHead

    options = [o.id for o in poll.options.all()]
    head = PollHead.objects.get(poll=poll)
    start = head.position
    while head.position < upto:
        first, last = head.position + 1, min(upto, head.position + FILL_CHUNK)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO tallying_ledgerentry (poll_id, position, option_id, tracker_hash, prev_hash, entry_hash)"
                " SELECT %s, i, (%s::bigint[])[1 + i %% %s], sha256(('fill:' || %s || ':' || i)::bytea),"
                " sha256(('entry:' || (i - 1))::bytea), sha256(('entry:' || i)::bytea)"
                " FROM generate_series(%s::bigint, %s::bigint) AS i",
                [poll.id, options, len(options), poll.id, first, last],
            )
            batch = CodeBatch.objects.create(poll=poll, size=last - first + 1, issued=last - first + 1,
                                             used_published=last - first + 1)
            cursor.execute(
                "INSERT INTO ballots_credential (poll_id, batch_id, code_hash, used)"
                " SELECT %s, %s, sha256(('code:' || %s || ':' || i)::bytea), true FROM generate_series(1, %s) AS i",
                [poll.id, batch.id, batch.id, last - first + 1],
            )
            cursor.execute(
                "INSERT INTO tallying_optioncount (poll_id, option_id, count)"
                " SELECT %s, (%s::bigint[])[1 + i %% %s], count(*) FROM generate_series(%s::bigint, %s::bigint) AS i"
                " GROUP BY 2 ON CONFLICT (poll_id, option_id) DO UPDATE"
                " SET count = tallying_optioncount.count + EXCLUDED.count",
                [poll.id, options, len(options), first, last],
            )
            cursor.execute("SELECT sha256(('entry:' || %s)::bytea)", [last])
            head.position, head.head_hash = last, bytes(cursor.fetchone()[0])
            head.save(update_fields=["position", "head_hash"])
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tallying_ledgerentry")
        cursor.execute("VACUUM ANALYZE ballots_credential")
    return head.position - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ballots", type=int, default=1_000_000)
    parser.add_argument("--fill", type=int, default=10_000_000, help="sealed entries for the last measurement")
    args = parser.parse_args()
    setup_database()
    from django.db import connection

    from tallying.services import seal_poll

    poll = fresh_poll()
    print(f"poll {poll.id}: one batch = {BATCH:,} ballots, {REPEATS} runs per measurement")

    profiles = []
    statements = Counter()
    empty = timed_batches(poll, REPEATS, statements)
    profiles.append(breakdown("empty ledger", statements, empty, REPEATS))
    print(f"batch time with {0:>9,} already sealed: median {statistics.median(empty) * 1000:7.1f} ms")

    from tests.sealing import insert_ballots

    start = time.perf_counter()
    insert_ballots(poll, args.ballots)
    print(f"inserted {args.ballots:,} waiting ballots in {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    sealed = 0
    while True:
        n = seal_poll(poll.id, batch_size=BATCH, clear=False)
        sealed += n
        if n < BATCH:
            break
    elapsed = time.perf_counter() - start
    print(f"sealed {sealed:,} ballots in {elapsed:.1f} s: {sealed / elapsed:,.0f} ballots/s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tallying_ledgerentry")

    statements = Counter()
    full = timed_batches(poll, REPEATS, statements)
    already = sealed + REPEATS * BATCH
    profiles.append(breakdown(f"{already:,} sealed", statements, full, REPEATS))
    print(f"batch time with {already:>9,} already sealed: median {statistics.median(full) * 1000:7.1f} ms")
    print(f"ratio (full / empty ledger): {statistics.median(full) / statistics.median(empty):.2f}")

    if args.fill > already:
        start = time.perf_counter()
        filled = fill_ledger(poll, args.fill)
        print(f"filled {filled:,} more sealed entries and used codes by SQL in {time.perf_counter() - start:.0f} s")
        statements = Counter()
        filled_times = timed_batches(poll, REPEATS, statements)
        at = args.fill + REPEATS * BATCH
        profiles.append(breakdown(f"{at:,} sealed", statements, filled_times, REPEATS))
        print(f"batch time with {at:>9,} already sealed: median {statistics.median(filled_times) * 1000:7.1f} ms")
        print(f"ratio (filled / empty ledger): {statistics.median(filled_times) / statistics.median(empty):.2f}")
    text = "# Sealing: where a batch's time goes (bench/seal.py)\n\n" + "\n".join(profiles)
    print(text)
    (ROOT / "bench" / "profiles").mkdir(exist_ok=True)
    (ROOT / "bench" / "profiles" / "seal.txt").write_text(text)


if __name__ == "__main__":
    main()
