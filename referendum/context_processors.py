"""Link previews (Open Graph, Twitter cards) of every page, in the page's language.

Pages with figures (results, a region's results, a poll) give their own `preview` from the view;
the others get a title and description by URL name here.
"""

from django.core.exceptions import DisallowedHost
from django.utils.translation import gettext_lazy as _

SITE_DESCRIPTION = _(
    "Regional referendums online: anonymous ballots, live results and a public ledger that anyone "
    "can recount."
)

PREVIEWS = {
    "home": (_("Regional referendums"), _(
        "Choose your region, enter the voting code you received and give your answer. Your vote is "
        "anonymous: nothing links it to you."
    )),
    "results": (_("Live results"), SITE_DESCRIPTION),
    "audit": (_("Audit log"), _(
        "Every action of the organizers, as it happened, newest first. Organizers appear under a "
        "pseudonym. Nothing here can be edited or deleted."
    )),
    "ledger": (_("Ledger"), _(
        "Every published ballot, without identity, in a hash chain that anyone can download and recount."
    )),
    "verify-receipt": (_("Check a receipt"), _(
        "Enter the tracker code from your receipt to see your ballot in the public ledger."
    )),
    "register": (_("Get a voting code by e-mail"), SITE_DESCRIPTION),
}


def page_url(request):
    """The page's absolute address, or None when the request's Host is not one of ours (the
    probes answer any Host, and their error pages must not fail on it)."""
    try:
        return request.build_absolute_uri()
    except DisallowedHost:
        return None


def link_preview(request):
    name = request.resolver_match.url_name if request.resolver_match else None
    title, description = PREVIEWS.get(name, (_("Referendum"), SITE_DESCRIPTION))
    return {"preview": {"title": title, "description": description, "image": None}, "page_url": page_url(request)}


def addresses(request):
    """Where else one can vote and read the results (VOTING_ADDRESSES, MIRROR_ADDRESSES)."""
    from django.conf import settings

    return {"voting_addresses": settings.VOTING_ADDRESSES, "mirror_addresses": settings.MIRROR_ADDRESSES}
