"""{% integrity_warning poll %}: the warning every reader of a poll's figures must see when its
latest signed statement counts ballots beyond the codes used (stuffing) or does not verify against
the one before it (tallying.queries.statement_integrity). A template tag, so that the console's
pages (in ballots/) show it without ballots importing tallying."""

from django import template

from tallying import queries

register = template.Library()


@register.inclusion_tag("tallying/_integrity_warning.html")
def integrity_warning(poll, compact=False):
    return {"integrity": queries.poll_integrity(poll.id), "compact": compact}


@register.simple_tag
def load_integrity(polls):
    """Sets `integrity` on each poll of a list (one query for all): the console's table of polls."""
    polls = list(polls)
    for poll, integrity in zip(polls, queries.integrity_by_poll([p.id for p in polls]).values(), strict=True):
        poll.integrity = integrity
    return ""
