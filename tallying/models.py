from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import Exact


def genesis_hash():
    return bytes(32)


class PollHead(models.Model):
    """Where a poll's ledger ends: the last sealed position and its entry hash.

    `genesis` is where the chain began (the prev_hash of entry 1): the hash of the poll's
    definition when the head was created (genesis version 2), or 32 zero bytes for chains begun
    before definitions were signed (version 1; every head that existed before migration 0005).
    """

    poll = models.OneToOneField("ballots.Poll", on_delete=models.PROTECT, primary_key=True, related_name="head")
    position = models.PositiveBigIntegerField(default=0)
    head_hash = models.BinaryField(max_length=32, default=genesis_hash)
    sealed_at = models.DateTimeField(null=True, blank=True)
    genesis = models.BinaryField(max_length=32, default=genesis_hash)

    class Meta:
        constraints = [models.CheckConstraint(condition=Exact(Length("genesis"), 32), name="pollhead_genesis_32_bytes")]

    def __str__(self):
        return f"head of poll {self.poll_id} at {self.position}"

    @property
    def genesis_version(self):
        return 1 if bytes(self.genesis) == genesis_hash() else 2


class OptionCount(models.Model):
    """Sealed ballots per answer; always equal to a recount of the poll's ledger."""

    poll = models.ForeignKey("ballots.Poll", on_delete=models.PROTECT, related_name="+")
    option = models.ForeignKey("ballots.Option", on_delete=models.PROTECT, related_name="+")
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["poll", "option"], name="optioncount_unique")]

    def __str__(self):
        return f"{self.count} for option {self.option_id}"


class Snapshot(models.Model):
    """The counts and ledger head after a sealing run that changed something."""

    poll = models.ForeignKey("ballots.Poll", on_delete=models.PROTECT, related_name="snapshots")
    taken_at = models.DateTimeField()
    counts = models.JSONField(help_text="{option id: count}")
    total = models.PositiveBigIntegerField()
    position = models.PositiveBigIntegerField()
    head_hash = models.BinaryField(max_length=32)
    # The signed statement: canonical JSON (tallying/signing.py) of the fields above plus the
    # codes issued and revoked per batch; `signature` is Ed25519 over its UTF-8 bytes.
    statement = models.TextField(blank=True)
    signature = models.BinaryField(null=True, blank=True)
    is_final = models.BooleanField(default=False)

    class Meta:
        ordering = ["poll", "taken_at", "id"]
        indexes = [models.Index(fields=["poll", "taken_at"], name="snapshot_poll_time")]
        constraints = [
            models.UniqueConstraint(fields=["poll"], condition=models.Q(is_final=True), name="snapshot_one_final"),
        ]

    def __str__(self):
        return f"snapshot of poll {self.poll_id} at {self.position}"


class LedgerEntry(models.Model):
    """One published ballot at its position in the poll's hash chain. Written once, never updated.

    Inserted by sealing in position order (a publication's ballots shuffled first), so the heap
    order of this table is the public position order and each row's xmin is its sealing
    transaction's, never a cast's.
    """

    poll = models.ForeignKey("ballots.Poll", on_delete=models.PROTECT, related_name="+", db_index=False)
    position = models.PositiveBigIntegerField()
    option = models.ForeignKey("ballots.Option", on_delete=models.PROTECT, related_name="+", db_index=False)
    tracker_hash = models.BinaryField(max_length=32, unique=True)
    prev_hash = models.BinaryField(max_length=32)
    entry_hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["poll", "position"], name="ledger_position_unique"),
            models.CheckConstraint(condition=models.Q(position__gte=1), name="ledger_position_positive"),
            *(
                models.CheckConstraint(condition=Exact(Length(field), 32), name=f"ledger_{field}_32_bytes")
                for field in ("tracker_hash", "prev_hash", "entry_hash")
            ),
        ]

    def __str__(self):
        return f"entry {self.position} of poll {self.poll_id}"
