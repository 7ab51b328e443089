import uuid

from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


def in_russian():
    return (get_language() or "en").startswith("ru")


class Poll(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        OPEN = "open", _("open")
        PAUSED = "paused", _("paused")
        CLOSED = "closed", _("closed")

    # The states in which ballots are accepted, if the database clock is inside the window.
    ACCEPTING = (State.SCHEDULED, State.OPEN)

    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="polls")
    question_en = models.TextField(_("question in English"))
    question_ru = models.TextField(_("question in Russian"))
    opens_at = models.DateTimeField(_("opens at"))
    closes_at = models.DateTimeField(_("closes at"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.DRAFT)
    created_at = models.DateTimeField(auto_now_add=True)
    email_registration = models.BooleanField(
        _("e-mail self-registration"), default=False,
        help_text=_("Voters may ask for a code by e-mail; one code per address."),
    )

    class Meta:
        ordering = ["region__ordering", "opens_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(closes_at__gt=F("opens_at")), name="poll_window_positive"),
            models.CheckConstraint(
                condition=Q(state__in=["draft", "scheduled", "open", "paused", "closed"]),
                name="poll_state_known",
            ),
        ]

    def __str__(self):
        return f"{self.region.name_en}: {self.question_en[:60]}"

    @property
    def question(self):
        return self.question_ru if in_russian() else self.question_en

    def phase(self, now=None):
        """What a voter sees: draft, not_yet_open, open, paused or closed."""
        now = now or timezone.now()
        if self.state == self.State.DRAFT:
            return "draft"
        if self.state == self.State.CLOSED or now >= self.closes_at:
            return "closed"
        if self.state == self.State.PAUSED:
            return "paused"
        if now < self.opens_at:
            return "not_yet_open"
        return "open"


class Option(models.Model):
    poll = models.ForeignKey(Poll, on_delete=models.CASCADE, related_name="options")
    label_en = models.CharField(_("answer in English"), max_length=200)
    label_ru = models.CharField(_("answer in Russian"), max_length=200)
    ordering = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["ordering", "id"]

    def __str__(self):
        return self.label_en

    @property
    def label(self):
        return self.label_ru if in_russian() else self.label_en


class CodeBatch(models.Model):
    """Voting codes issued together, e.g. printed for one distribution channel.

    A large batch is filled by a Celery task chunk by chunk: `issued` counts the codes that exist
    so far, never more than `size`. The e-mail batch of a poll grows by one code per registration.
    """

    class Kind(models.TextChoices):
        ORGANIZER = "organizer", _("issued by an organizer")
        EMAIL = "email", _("e-mail self-registration")

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for a worker")
        RUNNING = "running", _("being issued")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    poll = models.ForeignKey(Poll, on_delete=models.PROTECT, related_name="code_batches")
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoke_reason = models.TextField(blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ORGANIZER)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    issued = models.PositiveIntegerField(default=0)
    # When the codes in clear left the server (download, or returned to a command); after that
    # no copy of them is kept anywhere.
    delivered_at = models.DateTimeField(null=True, blank=True)
    # Codes of this batch used to vote, as of the poll's last publication (written by sealing):
    # a live count would show an organizer who watches a small batch when its voters vote.
    used_published = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(issued__lte=F("size")), name="codebatch_issued_within_size"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "ready", "failed"]), name="codebatch_status_known"
            ),
            models.CheckConstraint(condition=Q(kind__in=["organizer", "email"]), name="codebatch_kind_known"),
            models.UniqueConstraint(
                fields=["poll"], condition=Q(kind="email", revoked_at__isnull=True),
                name="codebatch_one_active_email_batch_per_poll",
            ),
        ]

    def __str__(self):
        return f"batch {self.id} of poll {self.poll_id} ({self.size} codes)"


class Credential(models.Model):
    """A voting code, stored only as HMAC-SHA256(pepper, normalized code). No ballot points here."""

    poll = models.ForeignKey(Poll, on_delete=models.PROTECT, related_name="credentials")
    batch = models.ForeignKey(CodeBatch, on_delete=models.PROTECT, related_name="credentials")
    code_hash = models.BinaryField(max_length=32, unique=True)
    used = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Exact(Length("code_hash"), 32), name="credential_hash_32_bytes"),
        ]

    def __str__(self):
        return f"credential {self.id} of poll {self.poll_id}"


class PublicationKey(models.Model):
    """One publication period's X25519 key pair for one poll (ballots/keys.py).

    Casts seal each ballot to the poll's current public key (ballots/sealed.py). The private half
    never reaches the database in clear: it lives in the key store's memory (Redis without
    persistence) until the period's ballots are published, then it is forgotten there. `recovery`
    is the private half encrypted to the offline recovery key (an age file), so that a lost key
    store loses no ballot; it is erased too once the period is published.

    The poll's current key is the column ballots_poll.publication_key_id, which Django does not
    know (migration 0011): only the rotation's SQL writes it, and no Poll.save() can put an older
    key back. The cast statement checks it under the poll row's FOR SHARE, so once a rotation
    commits no ballot is sealed to the old key any more.
    """

    poll = models.ForeignKey(Poll, on_delete=models.PROTECT, related_name="publication_keys")
    public_key = models.BinaryField(max_length=32, unique=True)
    recovery = models.BinaryField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    forgotten_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Exact(Length("public_key"), 32), name="publicationkey_32_bytes"),
        ]

    def __str__(self):
        return f"publication key {self.id} of poll {self.poll_id}"


class InboxBallot(models.Model):
    """An accepted ballot waiting to be published, sealed: random id, the key it is sealed to, and
    96 bytes that only that key's private half opens. No time, no answer, no tracker hash in
    clear, no link to its credential.

    Sealing opens the waiting ballots of retired keys, moves them into the ledger
    (tallying.LedgerEntry) in shuffled order, at least PUBLISH_MIN_BALLOTS at a time, and deletes
    them here. What a cast wrote (this row, its WAL record) stays unreadable once the period's key
    is forgotten.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll = models.ForeignKey(Poll, on_delete=models.PROTECT, related_name="inbox")
    key = models.ForeignKey(PublicationKey, on_delete=models.PROTECT, related_name="+")
    sealed = models.BinaryField(max_length=96)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Exact(Length("sealed"), 96), name="inbox_sealed_96_bytes"),
        ]

    def __str__(self):
        return f"sealed ballot waiting in poll {self.poll_id}"


class AuditEntry(models.Model):
    """One organizer action, public and append-only (a database trigger refuses UPDATE/DELETE)."""

    class Action(models.TextChoices):
        CREATE = "create", _("created the poll")
        EDIT = "edit", _("edited the poll")
        SCHEDULE = "schedule", _("scheduled the poll")
        OPEN = "open", _("opened the poll")
        PAUSE = "pause", _("paused the poll")
        RESUME = "resume", _("resumed the poll")
        CLOSE = "close", _("closed the poll")
        EXTEND = "extend", _("extended the closing time")
        ISSUE_BATCH = "issue_batch", _("issued a batch of codes")
        REVOKE_BATCH = "revoke_batch", _("revoked a batch of codes")
        PUBLISH = "publish", _("published the final result")
        # Regions and organizer accounts (no poll; `detail` names the region or the account's pseudonym)
        ADD_REGION = "add_region", _("added a region")
        CREATE_ACCOUNT = "create_account", _("created an organizer account")
        ENROL = "enrol", _("set a password with a one-time link")
        RESET_2FA = "reset_2fa", _("reset an organizer's second factor")
        DEACTIVATE = "deactivate", _("deactivated an organizer account")

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    role = models.CharField(max_length=12)
    organizer = models.CharField(max_length=20, help_text="The organizer's pseudonym, never a name.")
    poll = models.ForeignKey(Poll, on_delete=models.PROTECT, null=True, blank=True, related_name="audit_entries")
    action = models.CharField(max_length=16, choices=Action.choices)
    detail = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.organizer} {self.action} poll {self.poll_id}"


class StoredCodes(models.Model):
    """One chunk of a batch's codes in clear, encrypted (Fernet), kept only until the download.

    Written in the same transaction as the chunk's credentials, deleted by the one download (or
    the batch's revocation). See ballots/encryption.py for the key.
    """

    batch = models.ForeignKey(CodeBatch, on_delete=models.CASCADE, related_name="stored_codes")
    index = models.PositiveIntegerField()
    token = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "index"], name="storedcodes_chunk_unique")]

    def __str__(self):
        return f"encrypted chunk {self.index} of batch {self.batch_id}"


class EmailRegistration(models.Model):
    """An e-mail address that received a code for a poll, kept only as a keyed hash.

    HMAC-SHA256(pepper, purpose ‖ poll ‖ normalized address): enough to refuse a second code,
    useless to list who registered without the pepper, and different per poll. No time, no link to
    the credential it led to (written in another transaction, by the worker).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll = models.ForeignKey(Poll, on_delete=models.PROTECT, related_name="+")
    address_hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["poll", "address_hash"], name="emailregistration_once_per_poll"),
            models.CheckConstraint(condition=Exact(Length("address_hash"), 32), name="emailregistration_hash_32_bytes"),
        ]

    def __str__(self):
        return f"e-mail registration for poll {self.poll_id}"


class PendingMail(models.Model):
    """A registration mail not yet sent, sealed to the offline recovery key, so that a mail lost with
    the task queue (Redis) can be queued again by `manage.py resend_registration_mails`.

    `sealed` is an age file, encrypted to PUBLICATION_RECOVERY_RECIPIENTS only, of the mail request
    (address as delivered, poll, language, link), padded to one length: the server cannot read it,
    and its length says nothing about the address. Written in the transaction that records the
    address's hash; deleted by the worker that sends the mail, in a transaction of its own, before
    the code is issued (the delete is the claim: a second delivery finds nothing and sends nothing).
    `queued_at` is the minute the mail was queued, no finer.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    poll = models.ForeignKey(Poll, on_delete=models.PROTECT, related_name="+")
    sealed = models.BinaryField()
    queued_at = models.DateTimeField()

    # The database refuses a finer time (migration 0013: a CHECK on PostgreSQL).

    def __str__(self):
        return f"pending registration mail for poll {self.poll_id}"
