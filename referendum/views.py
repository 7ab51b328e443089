from django.db import connection
from django.http import JsonResponse
from django.utils.translation import gettext as _

from .responses import refuse


def csrf_failure(request, reason=""):
    return refuse(
        request,
        403,
        "csrf_failed",
        _(
            "Your form expired or came from another site, so it was not accepted and nothing was "
            "recorded. Please go back, reload the page and try again."
        ),
    )


def ratelimited(request, exception=None):
    return refuse(
        request,
        429,
        "rate_limited",
        _("Too many attempts in a short time. Please wait a minute and try again."),
        headers={"Retry-After": "60"},
    )


def not_found(request, exception=None):
    return refuse(request, 404, "not_found", _("There is no such page."))


def server_error(request):
    return refuse(request, 500, "server_error", _("Something went wrong on our side. Nothing was recorded; please try again."))


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
