from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import health, metrics
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
    """429 in the user's language, with Retry-After: the seconds until the limit's window ends."""
    retry_after = getattr(request, "ratelimit_retry_after", 60)
    metrics.count_rate_limited(request)
    return refuse(
        request,
        429,
        "rate_limited",
        _("Too many attempts in a short time. Please wait a little and try again. Nothing was recorded."),
        headers={"Retry-After": str(retry_after)},
    )


def bad_request(request, exception=None):
    return refuse(request, 400, "bad_request", _("The request could not be understood. Nothing was recorded."))


def not_found(request, exception=None):
    return refuse(request, 404, "not_found", _("There is no such page."))


def server_error(request):
    return refuse(request, 500, "server_error", _("Something went wrong on our side. Nothing was recorded; please try again."))


@require_GET
def openapi(request):
    """docs/openapi.yaml, the contract of /api/v1/ (tests/test_api_contract.py fuzzes it)."""
    body = (settings.BASE_DIR / "docs" / "openapi.yaml").read_bytes()
    response = HttpResponse(body, content_type="application/yaml; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    return response


def healthz(request):
    """Liveness: this process answers and reaches PostgreSQL (503 when it does not)."""
    if not health.check_postgres()["ok"]:
        return JsonResponse({"status": "database unavailable"}, status=503, headers={"Retry-After": "30"})
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    """200 when PostgreSQL and Redis answer and a sealing run finished recently; else 503 naming
    what is wrong. For monitors, not for a load balancer: voting goes on without Redis or workers."""
    state = health.readiness()
    return JsonResponse(state, status=200 if state["ready"] else 503)


@never_cache
def metrics_view(request):
    """Prometheus text format, only for a scraper with METRICS_TOKEN; anyone else sees a 404."""
    if request.method != "GET" or not metrics.authorized(request):
        return not_found(request)
    return metrics.render_metrics()
