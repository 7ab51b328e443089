"""Console: a poll's voting-code batches (issue, progress, one download, revoke) and the switch
for e-mail self-registration. Every view goes through queries that take the organizer, so another
region's poll or batch answers 404 whatever the URL."""

import qrcode
from django import forms
from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from referendum.responses import refuse
from regions.access import console_required

from .. import queries, services
from ..errors import BallotError
from ..models import CodeBatch

# Cards are offered for batches up to this size (one page with a QR code per code); larger
# batches go to a print shop as CSV.
CARDS_LIMIT = 5000
# While a batch is being issued its page reloads itself every few seconds (no script needed).
PROGRESS_REFRESH_SECONDS = 2


class IssueForm(forms.Form):
    count = forms.IntegerField(
        label=gettext_lazy("Number of codes"),
        min_value=1,
        max_value=services.MAX_BATCH_SIZE,
        error_messages={
            "min_value": gettext_lazy("A batch holds from 1 to 1,000,000 codes."),
            "max_value": gettext_lazy("A batch holds from 1 to 1,000,000 codes."),
        },
    )


class RevokeForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason (published in the audit log)"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Please write the reason for revoking; it is published.")},
    )


def _poll_or_404(request, poll_id):
    poll = queries.managed_poll(request.organizer, poll_id)
    if poll is None:
        raise Http404
    return poll


def _batch_or_404(request, poll_id, batch_id):
    batch = queries.managed_batch(request.organizer, poll_id, batch_id)
    if batch is None:
        raise Http404
    return batch


def _batch_url(batch):
    return reverse("console-batch", args=[batch.poll_id, batch.pk])


@never_cache
@console_required
def batch_list(request, poll_id):
    """GET: the poll's batches and the issue form; POST: issue a batch (large ones by a task)."""
    poll = _poll_or_404(request, poll_id)
    form = IssueForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                batch = services.start_batch(poll, form.cleaned_data["count"], services.actor_for(request.organizer))
            except BallotError as error:
                form.add_error(None, error.message)
            else:
                return redirect(_batch_url(batch))
        status = 400
    return render(
        request,
        "console/batches/list.html",
        {
            "poll": poll,
            "batches": queries.poll_batches(poll),
            "form": form,
            "inline_limit": services.INLINE_BATCH_LIMIT,
            "max_size": services.MAX_BATCH_SIZE,
        },
        status=status,
    )


@never_cache
@console_required
def batch_detail(request, poll_id, batch_id):
    batch = _batch_or_404(request, poll_id, batch_id)
    in_progress = batch.revoked_at is None and batch.status in (CodeBatch.Status.PENDING, CodeBatch.Status.RUNNING)
    downloadable = (
        batch.kind == CodeBatch.Kind.ORGANIZER
        and batch.revoked_at is None
        and batch.delivered_at is None
        and batch.status == CodeBatch.Status.READY
    )
    return render(
        request,
        "console/batches/detail.html",
        {
            "poll": batch.poll,
            "batch": batch,
            "in_progress": in_progress,
            "refresh_seconds": PROGRESS_REFRESH_SECONDS,
            "downloadable": downloadable,
            "cards_offered": batch.size <= CARDS_LIMIT,
            "cards_limit": CARDS_LIMIT,
            "revoke_form": RevokeForm(),
        },
    )


@never_cache
@console_required
@require_POST
def batch_download(request, poll_id, batch_id):
    """The one download of a batch's codes, as CSV or as printable cards; it destroys the copy."""
    batch = _batch_or_404(request, poll_id, batch_id)
    wanted = request.POST.get("format")
    if wanted not in ("csv", "cards") or (wanted == "cards" and batch.size > CARDS_LIMIT):
        return refuse(request, 400, "bad_format", _("Choose the CSV file or (for up to 5,000 codes) the cards."))
    try:
        delivered = services.take_batch_codes(batch.pk)
    except BallotError as error:
        return refuse(request, error.status, error.code, error.message)
    if wanted == "csv":
        response = StreamingHttpResponse(delivered.csv_lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="poll-{batch.poll_id}-batch-{batch.pk}-codes.csv"'
    else:
        vote_url = request.build_absolute_uri(reverse("vote", args=[batch.poll_id]))
        cards = [(code, qr_svg(f"{vote_url}#code={code}")) for code in delivered.codes()]
        response = render(
            request, "console/batches/cards.html", {"poll": batch.poll, "batch": batch, "cards": cards, "vote_url": vote_url}
        )
    response["Cache-Control"] = "no-store"
    return response


@console_required
@require_POST
def batch_revoke(request, poll_id, batch_id):
    batch = _batch_or_404(request, poll_id, batch_id)
    form = RevokeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors["reason"]))
        return redirect(_batch_url(batch))
    try:
        services.revoke_batch(batch.pk, form.cleaned_data["reason"], services.actor_for(request.organizer))
    except BallotError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The batch is revoked: its unused codes no longer work."))
    return redirect(_batch_url(batch))


@console_required
@require_POST
def email_registration(request, poll_id):
    """Turn e-mail self-registration on (enabled=1) or off for the poll."""
    poll = _poll_or_404(request, poll_id)
    enabled = request.POST.get("enabled") == "1"
    try:
        services.set_email_registration(poll.pk, enabled, services.actor_for(request.organizer))
    except BallotError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Voters can now ask for a code by e-mail.") if enabled else _("E-mail self-registration is off."),
        )
    return redirect("console-batches", poll.pk)


def qr_svg(data):
    """A QR code as a small inline SVG (one path, no style attribute), for printing.

    The mask pattern is fixed instead of searched: any mask gives a valid code, and the search
    costs five times the rest, which matters for a page of 5,000 cards.
    """
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2, mask_pattern=2)
    qr.add_data(data)
    qr.make(fit=True)
    matrix = qr.get_matrix()
    size = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < size and row[x]:
                x += 1
            runs.append(f"M{start} {y}h{x - start}v1h-{x - start}z")
    return format_html(
        '<svg class="qr-code" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {0} {0}" role="img" aria-label="{1}">'
        '<rect class="qr-light" width="{0}" height="{0}" fill="#fff"/><path d="{2}" fill="#000"/></svg>',
        size,
        _("QR code"),
        mark_safe("".join(runs)),  # noqa: S308 — digits and path letters only
    )
