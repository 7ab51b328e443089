"""A referendum-sized data set for measuring pages (issue 13): `manage.py build_scale_dataset`.

At --scale 1: the five regions with one open poll each, 2,000,000 codes in batches of 1,000 to
100,000, 1,000,000 ballots published in the hash-chained ledger over 90 days (about one signed
publication an hour per poll, each of at least PUBLISH_MIN_BALLOTS), fewer than K ballots waiting
per poll, a few thousand audit entries, a coordinator and one organizer per region.

The app's own paths (issue_codes, cast_ballot, seal_poll) would take hours for this, so the big
tables are written by SQL (credentials by INSERT … SELECT generate_series, ledger and audit by
COPY), with the app's own functions for what observers check: the definition hash (genesis),
entry hashes (tallying.ledger) and signed statements (tallying.services.signed_snapshot). The
export verifies with `python -m tallying.verify`. Triggers stay on: every row is an INSERT they
accept (polls leave draft after their answers exist, nothing append-only is updated).

Codes are not usable except a handful per poll: the others' hashes are SHA-256 of a salt and a
counter, not HMACs of any code. Trackers are random: no receipt belongs to a published entry.
"""

import json
import math
import random
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from ballots import codes, keys, sealed
from ballots.models import AuditEntry, CodeBatch, Credential, InboxBallot, Option, Poll
from ballots.queries import poll_definition
from regions.models import Organizer
from regions.services import REGIONS, seed_regions

from . import ledger
from .models import OptionCount, PollHead, Snapshot
from .services import LEDGER_COLUMNS, refresh_cached_tally, signed_snapshot

FULL_CODES = 2_000_000
FULL_BALLOTS = 1_000_000
FULL_AUDIT = 3_000
DAYS = 90
BATCH_MIN, BATCH_MAX = 1_000, 100_000
REAL_CODES_PER_POLL = 5
# Shares of the codes and ballots per region (in REGIONS order) and how often each says yes.
SHARES = (0.30, 0.25, 0.15, 0.15, 0.15)
YES = (0.78, 0.71, 0.64, 0.69, 0.74)
QUESTIONS_RU = {
    "siberia": "Должна ли Сибирь стать независимым государством?",
    "urals": "Должен ли Урал стать независимым государством?",
    "kaliningrad": "Должен ли Калининград стать независимым государством?",
    "krasnodar": "Должен ли Краснодар стать независимым государством?",
    "ingria": "Должна ли Ингрия стать независимым государством?",
}


@dataclass
class BuiltPoll:
    poll: Poll
    options: list
    batches: list = field(default_factory=list)  # (batch id, size, used at the end)
    real_codes: list = field(default_factory=list)
    ballots: int = 0
    waiting: int = 0
    publications: int = 0


def _split(total, parts):
    """`total` as `parts` integers differing by at most one."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def batch_sizes(rng, total, scale):
    """Batch sizes of 1,000 to 100,000 (both scaled down below scale 1) summing to `total`."""
    low = max(10, round(BATCH_MIN * min(scale, 1)))
    high = max(low, round(BATCH_MAX * min(scale, 1)))
    sizes = []
    while total > 0:
        size = min(total, rng.randint(low, high))
        if 0 < total - size < low:  # no last batch below the minimum
            size = total
        sizes.append(size)
        total -= size
    return sizes


def used_per_batch(sizes, used):
    """Spread `used` codes over batches in proportion to their sizes (each within its size)."""
    total = sum(sizes)
    shares = [used * size // total for size in sizes]
    for i in range(len(sizes)):
        while sum(shares) < used and shares[i] < sizes[i]:
            shares[i] += 1
    return shares


def publication_sizes(ballots, k, hours):
    """About one publication an hour, each of at least k ballots."""
    count = min(hours, ballots // k)
    return _split(ballots, count) if count else []


class Builder:
    def __init__(self, scale=1.0, seed=13, password="scale benchmark password 2026", out=print):
        self.scale, self.password, self.out = scale, password, out
        self.rng = random.Random(seed)
        self.salt = f"{seed}:{uuid.UUID(int=self.rng.getrandbits(128))}"
        self.k = settings.PUBLISH_MIN_BALLOTS
        self.now = timezone.now().replace(microsecond=0)
        self.opens_at = self.now - timedelta(days=DAYS, hours=1)
        self.audit = []  # (at, role, organizer, poll id, action, detail, reason)

    # --- the parts -------------------------------------------------------------------------------

    def organizers(self, regions):
        """A coordinator and one organizer per region, each with a password and a TOTP device."""
        accounts = []
        for username, role, region in [("scale-coordinator", Organizer.Role.COORDINATOR, None)] + [
            (f"scale-{r.slug}", Organizer.Role.REGIONAL, r) for r in regions
        ]:
            # The coordinator may also open the (read-only) admin, as in tests/test_admin_read_only.py.
            staff = role == Organizer.Role.COORDINATOR
            user = User.objects.create_user(username, password=self.password, is_staff=staff, is_superuser=staff)
            organizer = Organizer.objects.create(user=user, role=role)
            if region is not None:
                organizer.regions.set([region])
            device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
            self.audit.append((self.opens_at - timedelta(days=7), "operator", "command-line", None,
                               AuditEntry.Action.CREATE_ACCOUNT, {"organizer": organizer.pseudonym}, ""))
            accounts.append({"username": username, "role": role, "region": region and region.slug,
                             "pseudonym": organizer.pseudonym, "totp_key": device.key})
        return accounts

    def poll(self, region, organizer):
        poll = Poll.objects.create(
            region=region, question_en=f"Should {'the Urals' if region.slug == 'urals' else region.name_en} become an independent state?",
            question_ru=QUESTIONS_RU[region.slug],
            opens_at=self.opens_at, closes_at=self.now + timedelta(days=30), state=Poll.State.DRAFT,
        )
        options = Option.objects.bulk_create([
            Option(poll=poll, label_en="Yes", label_ru="Да", ordering=0),
            Option(poll=poll, label_en="No", label_ru="Нет", ordering=1),
        ])
        # The definition is frozen from here on (ballots migration 0009).
        # The last region's voters may also ask for a code by e-mail (its /register page has a form).
        Poll.objects.filter(pk=poll.pk).update(state=Poll.State.OPEN, created_at=self.opens_at - timedelta(days=10),
                                               email_registration=region.slug == REGIONS[-1][0])
        poll.refresh_from_db()
        for days, action in ((10, AuditEntry.Action.CREATE), (3, AuditEntry.Action.SCHEDULE), (0, AuditEntry.Action.OPEN)):
            self.audit.append((self.opens_at - timedelta(days=days), organizer["role"], organizer["pseudonym"],
                               poll.id, action, {}, ""))
        return BuiltPoll(poll=poll, options=options)

    def credentials(self, built, total_codes, used, coordinator):
        """Batches and their codes: the first `used` of each batch marked used, a few real codes."""
        sizes = batch_sizes(self.rng, total_codes, self.scale)
        used_counts = used_per_batch(sizes, used)
        batches = CodeBatch.objects.bulk_create(
            CodeBatch(poll=built.poll, size=size, issued=size, status=CodeBatch.Status.READY) for size in sizes
        )
        with connection.cursor() as cursor:
            for number, (batch, size, used_count) in enumerate(zip(batches, sizes, used_counts, strict=True)):
                created = self.opens_at - timedelta(days=2) + timedelta(hours=number)
                CodeBatch.objects.filter(pk=batch.pk).update(created_at=created, delivered_at=created + timedelta(minutes=5))
                real = REAL_CODES_PER_POLL if number == 0 and size - used_count >= REAL_CODES_PER_POLL else 0
                for _i in range(real):
                    code = codes.new_code()
                    Credential.objects.create(poll=built.poll, batch=batch, code_hash=codes.hash_code(codes.normalize_code(code)))
                    built.real_codes.append(code)
                cursor.execute(
                    "INSERT INTO ballots_credential (poll_id, batch_id, code_hash, used)"
                    " SELECT %s, %s, sha256(convert_to(%s || g::text, 'UTF8')), g <= %s"
                    " FROM generate_series(1, %s) AS g",
                    [built.poll.id, batch.pk, f"{self.salt}:{batch.pk}:", used_count, size - real],
                )
                built.batches.append((batch.pk, size, used_count))
                self.audit.append((created, coordinator["role"], coordinator["pseudonym"], built.poll.id, AuditEntry.Action.ISSUE_BATCH,
                                   {"batch": batch.pk, "size": size}, ""))

    def ledger(self, built, ballots, yes):
        """Publish `ballots` ballots in about one signed publication an hour over the 90 days."""
        poll = built.poll
        definition = poll_definition(Poll.objects.select_related("region").get(pk=poll.pk))
        genesis = ledger.definition_hash(definition)
        sizes = publication_sizes(ballots, self.k, DAYS * 24)
        yes_id, no_id = (o.id for o in built.options)
        counts = {str(yes_id): 0, str(no_id): 0}
        used_total = sum(used for _b, _s, used in built.batches)
        span = (self.now - timedelta(minutes=5)) - self.opens_at
        prev, position, snapshots = genesis, 0, []
        with connection.cursor() as cursor:
            with cursor.cursor.copy(f"COPY tallying_ledgerentry ({', '.join(LEDGER_COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(["int8", "int8", "int8", "bytea", "bytea", "bytea"])
                for number, size in enumerate(sizes, start=1):
                    for _i in range(size):
                        position += 1
                        option = yes_id if self.rng.random() < yes else no_id
                        tracker = self.rng.randbytes(32)
                        entry = ledger.entry_hash(prev, position, poll.id, option, tracker)
                        copy.write_row((poll.id, position, option, tracker, prev, entry))
                        counts[str(option)] += 1
                        prev = entry
                    taken_at = self.opens_at + span * number / len(sizes)
                    batches = {
                        str(batch_id): {"issued": size_, "revoked": False,
                                        "used": math.ceil(position * used / used_total) if used_total else 0}
                        for batch_id, size_, used in built.batches
                    }
                    snapshots.append(signed_snapshot(poll.id, taken_at, dict(counts), position, prev, definition,
                                                     genesis, batches))
        Snapshot.objects.bulk_create(snapshots, batch_size=500)
        last = snapshots[-1] if snapshots else None
        PollHead.objects.create(poll=poll, position=position, head_hash=prev, genesis=genesis,
                                sealed_at=last.taken_at if last else None)
        OptionCount.objects.bulk_create(
            OptionCount(poll=poll, option_id=int(option), count=n) for option, n in counts.items() if n
        )
        if last is not None:
            for batch_id, figures in json.loads(last.statement)["batches"].items():
                CodeBatch.objects.filter(pk=int(batch_id)).update(used_published=figures["used"])
        built.ballots, built.publications = position, len(sizes)

    def inbox(self, built, waiting, yes):
        yes_id, no_id = (o.id for o in built.options)
        key_id, public = keys.ensure_current_key(built.poll.id)
        InboxBallot.objects.bulk_create(
            InboxBallot(
                id=uuid.UUID(bytes=self.rng.randbytes(16), version=4), poll=built.poll, key_id=key_id,
                sealed=sealed.seal(public, built.poll.id, yes_id if self.rng.random() < yes else no_id,
                                   self.rng.randbytes(32)),
            )
            for _i in range(waiting)
        )
        built.waiting = waiting

    def more_audit(self, polls, accounts, wanted):
        """Pauses and resumes (with reasons) and e-mail registration switches, spread over the 90
        days, up to `wanted` audit entries in all."""
        reasons = ["Scheduled database maintenance", "Reports of phishing codes in a chat channel",
                   "Плановая проверка серверов", "Checking a complaint about a printed batch"]
        regional = {a["region"]: a for a in accounts if a["region"]}
        while len(self.audit) < wanted:
            built = self.rng.choice(polls)
            actor = regional[built.poll.region.slug]
            at = self.opens_at + timedelta(seconds=self.rng.randrange(DAYS * 86400))
            if self.rng.random() < 0.8:
                self.audit.append((at, actor["role"], actor["pseudonym"], built.poll.id, AuditEntry.Action.PAUSE, {},
                                   self.rng.choice(reasons)))
                self.audit.append((at + timedelta(minutes=self.rng.randint(1, 30)), actor["role"], actor["pseudonym"],
                                   built.poll.id, AuditEntry.Action.RESUME, {}, ""))
            else:
                self.audit.append((at, actor["role"], actor["pseudonym"], built.poll.id, AuditEntry.Action.EDIT,
                                   {"email_registration": self.rng.random() < 0.5}, ""))

    def write_audit(self):
        """COPY: audit entries keep their times in the past (the model's auto_now_add would not)."""
        self.audit.sort(key=lambda row: row[0])
        with connection.cursor() as cursor, cursor.cursor.copy(
            "COPY ballots_auditentry (at, role, organizer, poll_id, action, detail, reason) FROM STDIN"
        ) as copy:
            for at, role, organizer, poll_id, action, detail, reason in self.audit:
                copy.write_row((at, role, organizer, poll_id, str(action), json.dumps(detail), reason))

    # --- all of it -------------------------------------------------------------------------------

    def build(self):
        total_codes = round(FULL_CODES * self.scale)
        total_ballots = round(FULL_BALLOTS * self.scale)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL statement_timeout = 0")
            regions = seed_regions()
            assert [r.slug for r in regions][: len(REGIONS)] == [slug for slug, *_rest in REGIONS]
            regions = regions[: len(REGIONS)]
            accounts = self.organizers(regions)
            regional = {a["region"]: a for a in accounts if a["region"]}
            polls = []
            for index, region in enumerate(regions):
                built = self.poll(region, regional[region.slug])
                ballots = round(total_ballots * SHARES[index])
                waiting = self.rng.randrange(self.k // 4, self.k) if self.k > 1 else 0
                codes_ = max(round(total_codes * SHARES[index]), ballots + waiting + REAL_CODES_PER_POLL)
                self.credentials(built, codes_, ballots + waiting, accounts[0])
                self.ledger(built, ballots, YES[index])
                self.inbox(built, waiting, YES[index])
                polls.append(built)
                self.out(f"poll {built.poll.id} ({region.slug}): {codes_:,} codes in {len(built.batches)} batches, "
                         f"{built.ballots:,} ballots in {built.publications:,} publications, {waiting} waiting")
            self.more_audit(polls, accounts, max(100, round(FULL_AUDIT * self.scale)))
            self.write_audit()
        self.analyze()
        for built in polls:
            try:
                refresh_cached_tally(built.poll.id)
            except Exception as error:  # Redis down: the tallies are read from the database
                self.out(f"(could not refresh the cached tally of poll {built.poll.id}: {type(error).__name__})")
        return polls, accounts

    def analyze(self):
        """Fresh statistics (and, outside a transaction, a vacuum) so that plans are those of a
        database that grew over weeks."""
        tables = ["ballots_credential", "ballots_codebatch", "ballots_auditentry", "ballots_inboxballot",
                  "tallying_ledgerentry", "tallying_snapshot", "tallying_pollhead", "tallying_optioncount",
                  "ballots_poll", "ballots_option"]
        verb = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"{verb} {table}")
