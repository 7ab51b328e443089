"""Read paths for the voting pages and the API."""

from django.db.models import Count, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Poll


def public_polls():
    """Every poll that has left draft, with region and options, in display order."""
    return (
        Poll.objects.exclude(state=Poll.State.DRAFT)
        .select_related("region")
        .prefetch_related("options")
        .order_by("region__ordering", "opens_at", "id")
    )


def public_poll(poll_id):
    try:
        poll_id = int(poll_id)
    except (TypeError, ValueError):
        return None
    return public_polls().filter(pk=poll_id).first()


# poll id → the poll with its region and answers, per process, for the pages of a ballot's
# accepted steps (the confirmation and the receipt): two queries fewer per step. Only the poll's
# definition may be read from it (region, question, answers), which is frozen once the poll leaves
# draft (migration 0009); its state and times are stale by design. Whether the poll accepts the
# ballot is said by the check's or the cast's own statement, and pages of a refusal read the poll
# afresh (public_poll).
_definitions = {}


def remembered_poll(poll_id):
    """The public poll `poll_id` for its definition only (see _definitions); None if there is none."""
    try:
        poll_id = int(poll_id)
    except (TypeError, ValueError):
        return None
    poll = _definitions.get(poll_id)
    if poll is None:
        poll = public_poll(poll_id)
        if poll is not None:
            _definitions[poll_id] = poll
    return poll


def poll_as_json(poll, lang="en", now=None):
    now = now or timezone.now()
    return {
        "id": poll.id,
        "region": poll.region.slug,
        "region_name": poll.region.name_ru if lang == "ru" else poll.region.name_en,
        "question": poll.question_ru if lang == "ru" else poll.question_en,
        "question_en": poll.question_en,
        "question_ru": poll.question_ru,
        "options": [
            {
                "id": o.id,
                "label": o.label_ru if lang == "ru" else o.label_en,
                "label_en": o.label_en,
                "label_ru": o.label_ru,
            }
            for o in poll.options.all()
        ],
        "state": poll.phase(now),
        "opens_at": poll.opens_at.isoformat(),
        "closes_at": poll.closes_at.isoformat(),
    }


def poll_definition(poll):
    """What a poll asks, as signed into its ledger and every statement (docs/verification.md):
    id, region, question and answers (ids, labels) in both languages, answers in display order.
    Frozen in the database once the poll leaves draft (migration 0009)."""
    from .models import Option

    return {
        "poll": poll.id,
        "region": poll.region.slug,
        "question_en": poll.question_en,
        "question_ru": poll.question_ru,
        "answers": [
            {"id": option_id, "label_en": label_en, "label_ru": label_ru}
            for option_id, label_en, label_ru in Option.objects.filter(poll_id=poll.id)
            .order_by("ordering", "id").values_list("id", "label_en", "label_ru")
        ],
    }


def managed_polls(organizer):
    """The polls (drafts included) of the regions this organizer manages."""
    return (
        Poll.objects.filter(region__in=organizer.managed_regions())
        .select_related("region")
        .order_by("region__ordering", "-opens_at", "id")
    )


def managed_poll(organizer, poll_id):
    """One poll if the organizer manages its region, else None (the view answers 404)."""
    return managed_polls(organizer).filter(pk=poll_id).first()


def _per_poll(queryset, aggregate):
    value = queryset.filter(poll=OuterRef("pk")).order_by().values("poll").annotate(n=aggregate).values("n")
    return Coalesce(Subquery(value), 0)


def with_figures(polls):
    """Annotate polls with `counted` (the ledger's head, tallying's reverse one-to-one `head`),
    `waiting` (ballots in the inbox), `received`, `codes_issued` and `codes_used` (as of the last
    publication). One subquery per relation: never a join of ballots with codes."""
    from .models import CodeBatch, InboxBallot

    return polls.annotate(
        counted=Coalesce(F("head__position"), 0),
        waiting=_per_poll(InboxBallot.objects, Count("id")),
        codes_issued=_per_poll(CodeBatch.objects, Sum("issued")),
        codes_used=_per_poll(CodeBatch.objects, Sum("used_published")),
    ).annotate(received=F("counted") + F("waiting"))


def poll_batches(poll):
    """A poll's code batches, newest first, each with `used_count`: codes that cast a ballot, as of
    the poll's last publication (never live, see CodeBatch.used_published)."""
    return poll.code_batches.annotate(used_count=F("used_published")).order_by("-created_at", "-id")


def managed_batch(organizer, poll_id, batch_id):
    """One batch of a poll the organizer manages, with `used_count`, else None (the view answers 404)."""
    poll = managed_poll(organizer, poll_id)
    if poll is None:
        return None
    return poll_batches(poll).select_related("poll__region").filter(pk=batch_id).first()


AUDIT_PAGE_SIZE = 50


def audit_page(number):
    """One page of the public audit log, newest first; raises django's InvalidPage."""
    from django.core.paginator import Paginator

    from .models import AuditEntry

    entries = AuditEntry.objects.select_related("poll__region").order_by("-at", "-id")
    return Paginator(entries, AUDIT_PAGE_SIZE).page(number)


def audit_entry_json(entry):
    return {
        "at": entry.at.isoformat(),
        "role": entry.role,
        "organizer": entry.organizer,
        "poll": entry.poll_id,
        "region": entry.poll.region.slug if entry.poll else entry.detail.get("region"),
        "action": entry.action,
        "reason": entry.reason,
        "detail": entry.detail,
    }


def poll_of_code(normalized_code):
    """The poll (with its region) a code belongs to, or None: to tell a voter who chose the wrong
    region which one the code is for."""
    from . import codes
    from .models import Poll

    return Poll.objects.select_related("region").filter(credentials__code_hash=codes.hash_code(normalized_code)).first()
