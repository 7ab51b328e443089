"""The organizer console: polls of the organizer's regions only (others answer 404)."""

from django.shortcuts import render
from django.views.decorators.cache import never_cache

from regions.access import console_required

from . import queries


@never_cache
@console_required
def console_home(request):
    return render(request, "console/home.html", {"polls": queries.managed_polls(request.organizer)})
