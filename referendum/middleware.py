from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.urls import resolve
from django.utils import translation
from django.utils.translation import gettext as _

from .responses import refuse


class BodySizeLimitMiddleware:
    """Refuse oversized request bodies with 413 before any parser or CSRF check reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_BODY_BYTES:
            translation.activate(translation.get_language_from_request(request))
            return refuse(
                request,
                413,
                "body_too_large",
                _("The request is too large (at most %(limit)d bytes). Nothing was recorded.")
                % {"limit": settings.MAX_BODY_BYTES},
            )
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """If PostgreSQL is down, say so plainly (503): nothing was accepted that could be lost."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, (OperationalError, InterfaceError)):
            return refuse(
                request,
                503,
                "service_unavailable",
                _("The service is temporarily unavailable. Nothing was recorded; please try again in a few minutes."),
                headers={"Retry-After": "30"},
            )
        return None



class ProbeMiddleware:
    """/healthz, /readyz and /metrics answer requests whose Host is not in ALLOWED_HOSTS.

    Container healthchecks and the Prometheus scraper reach gunicorn by a container name or an
    address (Host: web:8000), never through the public proxy, and these three views build nothing
    from the host. Any other path, and these paths with an allowed Host, take the normal way.
    """

    PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info in self.PATHS:
            try:
                request.get_host()
            except DisallowedHost:
                request.resolver_match = match = resolve(request.path_info)
                return match.func(request, *match.args, **match.kwargs)
        return self.get_response(request)
