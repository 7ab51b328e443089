import re
from dataclasses import asdict

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware, PolicyParts
from csp.utils import build_policy
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from psycopg.errors import QueryCanceled

from .responses import json_error, refuse, wants_json


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
        if isinstance(exception, OperationalError) and isinstance(exception.__cause__, QueryCanceled):
            # STATEMENT_TIMEOUT_MS cancelled a statement: its transaction was rolled back.
            return refuse(
                request,
                503,
                "timeout",
                _("This took too long to answer, so it was stopped. Nothing was recorded; please try again in a minute."),
                headers={"Retry-After": "60"},
            )
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


# Features no page of ours uses: a page (or something injected into one) may not ask for them.
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "ambient-light-sensor", "autoplay", "battery", "camera", "display-capture",
        "document-domain", "encrypted-media", "fullscreen", "geolocation", "gyroscope", "hid", "idle-detection",
        "interest-cohort", "magnetometer", "microphone", "midi", "payment", "picture-in-picture",
        "publickey-credentials-get", "screen-wake-lock", "serial", "sync-xhr", "usb", "xr-spatial-tracking",
    )
)


def is_onion_request(request):
    """A request to one of our onion service names (ONION_HOSTS), which Tor reaches over plain HTTP."""
    if not settings.ONION_HOSTS:
        return False
    try:
        host = request.get_host()
    except DisallowedHost:
        return False
    return host.rsplit(":", 1)[0].lower() in settings.ONION_HOSTS


class SecurityHeadersMiddleware:
    """Every response carries the headers docs/security.md promises, also those that leave before
    the middleware that would set them: the 413 of BodySizeLimitMiddleware, the 400 for a foreign
    Host, static files from WhiteNoise, the API's 405 made after XFrameOptionsMiddleware ran.
    Second in MIDDLEWARE (after the metrics), so it sees every answer; it only fills in what is
    missing, so a view's own value (or the CSP middleware's) stands."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        headers = response.headers
        if HEADER not in headers and HEADER_REPORT_ONLY not in headers and not settings.DEBUG:
            headers[HEADER] = CachedPolicyCSPMiddleware.policy()
        headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.setdefault("X-Content-Type-Options", "nosniff")
        if settings.SECURE_REFERRER_POLICY:
            headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if settings.SECURE_HSTS_SECONDS and "Strict-Transport-Security" not in headers and self._secure(request):
            value = f"max-age={settings.SECURE_HSTS_SECONDS}"
            if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
                value += "; includeSubDomains"
            if settings.SECURE_HSTS_PRELOAD:
                value += "; preload"
            headers["Strict-Transport-Security"] = value
        return response

    @staticmethod
    def _secure(request):
        try:
            return request.is_secure()
        except Exception:  # a malformed proxy header: no HSTS, but the answer still goes out
            return False


class HttpsRedirectMiddleware:
    """Django's SECURE_SSL_REDIRECT, except for our onion service (HTTPS_REDIRECT; docs/security.md).

    An onion service is reached over plain HTTP: Tor already encrypts and authenticates the
    connection end to end, and no ordinary certificate exists for an .onion name, so redirecting
    it to https:// leads nowhere. Every other host is redirected exactly as Django would.
    (Django's own redirect has no per-host exemption, so it is off and this one is on; the check
    referendum.W008 stands in for Django's security.W008.)
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.exempt = [re.compile(pattern) for pattern in settings.SECURE_REDIRECT_EXEMPT]

    def __call__(self, request):
        if (
            settings.HTTPS_REDIRECT
            and not request.is_secure()
            and not any(pattern.search(request.path.lstrip("/")) for pattern in self.exempt)
            and not is_onion_request(request)
        ):
            return HttpResponsePermanentRedirect(f"https://{request.get_host()}{request.get_full_path()}")
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


class ApiErrorFormatMiddleware:
    """Under /api/ every refusal has our error format, also the 405 of Django's require_GET.

    Placed before CsrfViewMiddleware: the API grants nothing through a cookie (the voting code
    in the body is the credential, the rest is read-only), so CSRF does not apply there, and a
    method an address does not take answers 405, not a CSRF 403.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if wants_json(request):
            request._dont_enforce_csrf_checks = True
        response = self.get_response(request)
        if response.status_code == 405 and wants_json(request) and response.get("Content-Type", "").startswith("text/html"):
            return json_error(
                405, "method_not_allowed", _("This address does not accept this method."),
                headers={"Allow": response["Allow"]},
            )
        return response


class CachedPolicyCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with the policy built once per process (per CONTENT_SECURITY_POLICY
    setting) instead of for every response: our views use no nonce and no per-view policy, and
    building it was a fifth of the middleware's time on a cached read. A response or request that
    does use one gets django-csp's own handling."""

    _built = {}  # (id of the policy setting, id of the report-only setting) -> (policy, report-only policy)
    _PER_VIEW = ("_csp_config", "_csp_update", "_csp_replace", "_csp_config_ro", "_csp_update_ro",
                 "_csp_replace_ro", "_csp_exempt", "_csp_exempt_ro")

    def process_response(self, request, response):
        if (getattr(request, "_csp_nonce", None) is not None or settings.DEBUG
                or any(getattr(response, name, None) is not None for name in self._PER_VIEW)
                or HEADER in response or HEADER_REPORT_ONLY in response):
            return super().process_response(request, response)
        policy, report_only = self._policies()
        if policy and not self._excluded(request, "CONTENT_SECURITY_POLICY"):
            response[HEADER] = policy
        if report_only and not self._excluded(request, "CONTENT_SECURITY_POLICY_REPORT_ONLY"):
            response[HEADER_REPORT_ONLY] = report_only
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response

    @classmethod
    def _policies(cls):
        key = (id(getattr(settings, "CONTENT_SECURITY_POLICY", None)),
               id(getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None)))
        if key not in cls._built:
            cls._built.clear()  # a changed setting (tests): build anew
            cls._built[key] = (build_policy(**asdict(PolicyParts())),
                                build_policy(**asdict(PolicyParts()), report_only=True))
        return cls._built[key]

    @classmethod
    def policy(cls):
        """The policy every page gets (built once per setting)."""
        return cls._policies()[0]

    @staticmethod
    def _excluded(request, setting_name):
        prefixes = (getattr(settings, setting_name, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
        return request.path_info.startswith(tuple(prefixes))


class CachedReadMiddleware:
    """Cached reads (the tally API, the results pages) served before the session, language,
    CSRF, authentication and message middleware: a hit needs none of them, and skipping them
    made a cached read far cheaper. It sits below the security, HTTPS, CSP and metrics
    middleware, so the response carries their headers and is counted under its view. What the
    skipped middleware would add is added here: the language negotiated as LocaleMiddleware
    does, X-Frame-Options, Content-Length. (A cached page carries no CSRF token: see
    tallying/responses.py.) tests/test_cached_reads.py compares the headers with those of the
    same answer built through the whole chain. A miss, or anything else, goes down the chain."""

    def __init__(self, get_response):
        self.get_response = get_response

    # The tally API's route (tallying/urls.py), matched without resolving every URL.
    TALLY_PATH = re.compile(r"/api/v1/polls/([0-9]+)/tally")

    def __call__(self, request):
        from tallying import api, responses

        if request.method != "GET":
            return self.get_response(request)
        tally = self.TALLY_PATH.fullmatch(request.path_info)
        if tally is not None:
            entry = responses.cache_get(responses.tally_key(int(tally[1])), rebuild=False)
            if entry is None:
                return self.get_response(request)
            request.view_label = "api-tally"  # what the metrics count it under (its URL name)
            response = responses.serve(request, entry, f"public, max-age={api.TALLY_MAX_AGE}")
            return self._as_after_the_chain(response, translation.get_language_from_request(request))
        if not request.path_info.startswith("/results/"):
            return self.get_response(request)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return self.get_response(request)
        early = responses.early_page(request, match)
        if early is None:
            return self.get_response(request)
        request.resolver_match = match
        response, language = early
        return self._as_after_the_chain(response, language)

    @staticmethod
    def _as_after_the_chain(response, language):
        patch_vary_headers(response, ("Accept-Language",))
        response["Content-Language"] = language
        response["X-Frame-Options"] = settings.X_FRAME_OPTIONS
        if not response.streaming:
            response["Content-Length"] = str(len(response.content))
        return response
