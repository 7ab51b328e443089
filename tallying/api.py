"""Public, read-only JSON API of the tallies (docs/api.md)."""

import json
from datetime import UTC

from django.http import JsonResponse, StreamingHttpResponse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from ballots.queries import poll_as_json, public_poll
from referendum.responses import json_error

from . import queries, responses, signing

TALLY_MAX_AGE = 2
MAX_BIGINT = 2**63 - 1  # larger page cursors would overflow the database column


def _poll_or_404(poll_id):
    return public_poll(poll_id)


def _not_found():
    return json_error(404, "poll_not_found", _("There is no such referendum."))


@require_GET
def poll_detail(request, poll_id):
    poll = _poll_or_404(poll_id)
    if poll is None:
        return _not_found()
    data = poll_as_json(poll)
    data["tally"] = queries.tally_for_poll(poll)
    return JsonResponse(data, json_dumps_params={"ensure_ascii": False})


@require_GET
def poll_tally(request, poll_id):
    """The tally, whole, from the cache (built once per publication, and every couple of seconds
    for "received"), with an ETag and a short max-age so floods of readers cost little."""

    def build():
        poll = _poll_or_404(poll_id)
        if poll is None:
            return None
        return json.dumps(queries.tally_for_poll(poll), ensure_ascii=False, sort_keys=True).encode()

    response = responses.cached_json(responses.tally_key(poll_id), build, f"public, max-age={TALLY_MAX_AGE}")(request)
    return _not_found() if response is None else response


@require_GET
def poll_snapshots(request, poll_id):
    """Each publication's snapshot with its signed statement, oldest first, paged by id."""
    poll = _poll_or_404(poll_id)
    if poll is None:
        return _not_found()
    since = request.GET.get("since")
    if since is not None:  # present but empty is a bad time too
        try:
            # RFC 3339 in any of its spellings ("t", "z", more than six decimals); a "+" that a
            # query string turned into a space is put back.
            since = parse_datetime(since.replace(" ", "+").upper())
            if since is None or since.tzinfo is None:
                raise ValueError
            since = since.astimezone(UTC)  # PostgreSQL refuses offsets beyond ±15:59
        except (ValueError, OverflowError):
            return json_error(
                400, "bad_since", _("“since” must be an ISO 8601 time with a time zone, e.g. 2026-11-24T21:00:00+00:00.")
            )
    try:
        after = min(max(0, int(request.GET.get("after", 0))), MAX_BIGINT)
        limit = max(1, min(int(request.GET.get("limit", queries.STATEMENT_PAGE)), queries.SNAPSHOT_PAGE))
    except ValueError:
        return json_error(400, "bad_page", _("“after” and “limit” must be whole numbers."))
    snapshots = queries.snapshot_page(poll, after=after, since=since or None, limit=limit)
    return JsonResponse(
        {"poll": poll.id, "snapshots": snapshots, "limit": limit,
         "next_after": snapshots[-1]["id"] if len(snapshots) == limit else None},
        json_dumps_params={"ensure_ascii": False},
    )


@require_GET
def public_key(request):
    return JsonResponse(
        {"algorithm": "Ed25519", "public_key": signing.public_key_hex(), "rotations": signing.rotations()},
        json_dumps_params={"ensure_ascii": False},
    )


def jsonl_line(record):
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


@require_GET
def poll_export(request, poll_id):
    """The whole poll as JSON Lines, streamed: definition, signed snapshots, ledger, end marker.
    Rows are read through server-side cursors, so memory stays flat whatever the ledger's size."""
    poll = _poll_or_404(poll_id)
    if poll is None:
        return _not_found()
    response = StreamingHttpResponse(queries.export_lines(poll, signing.public_key_hex(), jsonl_line),
                                     content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="poll-{poll.id}.jsonl"'
    return response


@require_GET
def poll_ledger(request, poll_id):
    poll = _poll_or_404(poll_id)
    if poll is None:
        return _not_found()
    try:
        after = min(max(0, int(request.GET.get("after", 0))), MAX_BIGINT)
        limit = int(request.GET.get("limit", 100))
    except ValueError:
        return json_error(400, "bad_page", _("“after” and “limit” must be whole numbers."))
    entries = queries.ledger_page(poll, after=after, limit=limit)
    return JsonResponse({"poll": poll.id, "after": after, "entries": entries,
                         "next_after": entries[-1]["position"] if entries else None})
