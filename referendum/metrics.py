"""Prometheus metrics at /metrics, for a scraper holding METRICS_TOKEN (docs/operations.md).

Three sources, each where it is true:

- What web requests do (responses by view and status class, cast outcomes, 429s by action, mails
  queued) is counted with prometheus-client in the process that served the request. Under gunicorn
  every worker process writes its counters to a memory-mapped file in PROMETHEUS_MULTIPROC_DIR
  (see referendum/multiproc.py) and /metrics adds all files up, so whichever worker answers the
  scrape reports the totals of all of them, and counts of workers that restarted are kept. No
  network round trip on the voting path, and it works while Redis is down.
- What the Celery worker does (sealing runs, their duration and ballots, mails sent or failed,
  its heartbeat) lives in Redis (referendum/health.py): the worker is another process, often in
  another container, and Redis is already what connects it to the web.
- The state (per poll: received, counted, waiting, age of the last publication; readiness) is read
  from PostgreSQL and Redis at scrape time: always the truth, whatever process answers.

Nothing is per voter: no label holds a code, tracker, address, answer or session, and every label
has a bounded set of values (URL names, refusal codes, poll ids, region slugs, check names).
"""

import hmac
import logging
import os

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from ballots.errors import BallotError

from . import health

log = logging.getLogger(__name__)
disable_created_metrics()  # no *_created series: they only double what a scrape has to carry

# The web processes' own metrics. Not the library's global registry: /metrics shows exactly these,
# nothing a library registers by itself.
WEB_REGISTRY = CollectorRegistry(auto_describe=True)

RESPONSES = Counter(
    "referendum_http_responses", "HTTP responses by view (URL name) and status class.",
    ["view", "status_class"], registry=WEB_REGISTRY,
)
CAST_OUTCOMES = Counter(
    "referendum_cast_outcomes",
    "Cast attempts (form and API) by outcome: accepted, or the refusal code (also at the form's check step).",
    ["outcome"], registry=WEB_REGISTRY,
)
RATE_LIMITED = Counter(
    "referendum_rate_limited", "Requests refused with 429, by the limited action (URL name).",
    ["action"], registry=WEB_REGISTRY,
)
OVER_BUDGET = Counter(
    "referendum_over_budget",
    "Requests past a budget that slows instead of refusing (referendum/limits.py slow_down), by action.",
    ["action"], registry=WEB_REGISTRY,
)
EMAIL_QUEUED = Counter(
    "referendum_email_queued", "Registration mails handed to the task queue.", registry=WEB_REGISTRY,
)


def _refusal_codes(cls):
    return {cls.code} | {code for sub in cls.__subclasses__() for code in _refusal_codes(sub)}


# Every value the outcome label can take (a fixed set: our refusal codes); anything else is "other".
CAST_OUTCOME_VALUES = frozenset(
    {"accepted", "invalid_form", "invalid_json", "invalid_request", "unsupported_media_type"}
    | _refusal_codes(BallotError)
)


def count_cast(outcome):
    CAST_OUTCOMES.labels(outcome if outcome in CAST_OUTCOME_VALUES else "other").inc()


def view_label(request):
    if getattr(request, "view_label", None):  # set where a response leaves before URL resolution
        return request.view_label
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name:
        return match.view_name
    if request.path.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"  # 404 without a route, or refused before routing (413)


def count_rate_limited(request):
    RATE_LIMITED.labels(view_label(request)).inc()


def count_over_budget(action):
    OVER_BUDGET.labels(action).inc()


def count_email_queued():
    EMAIL_QUEUED.inc()


class ResponseMetricsMiddleware:
    """Counts every response by view and status class (first in MIDDLEWARE: it sees them all)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        RESPONSES.labels(view_label(request), f"{response.status_code // 100}xx").inc()
        return response


# --- state read at scrape time ---


def _integrity(poll_id):
    """The published figures' integrity (tallying.queries.statement_integrity), from the cached tally."""
    from tallying.queries import poll_integrity

    integrity = poll_integrity(poll_id)
    return {"beyond_codes": integrity["ballots_beyond_codes"], "statement_invalid": bool(integrity["problem"])}


def poll_figures(now=None):
    """Per poll that left the draft: received, counted, waiting, open or not, publication age.

    counted = the ledger head's position, waiting = the poll's rows in the inbox, received = both,
    read in one statement (ballots.queries.with_figures: the same figures the public pages show).
    The publication age is the time since the last sealing run that published, or since the poll
    opened if none has.
    """
    from ballots.models import Poll
    from ballots.queries import with_figures

    now = now or timezone.now()
    polls = with_figures(Poll.objects.exclude(state=Poll.State.DRAFT)).select_related("region", "head")
    figures = []
    for poll in polls.order_by("id"):
        head = getattr(poll, "head", None)
        since = (head.sealed_at if head else None) or poll.opens_at
        figures.append({
            "poll": str(poll.id), "region": poll.region.slug, "counted": poll.counted,
            "waiting": poll.waiting, "received": poll.received,
            "open": poll.phase(now) == "open", "publication_age": max(0.0, (now - since).total_seconds()),
            **_integrity(poll.id),
        })
    return figures


def _histogram(name, documentation, stats, prefix, buckets):
    count = stats.get(f"{prefix}_count", 0.0)
    cumulative = [(repr(float(b)), stats.get(f"{prefix}_le_{b}", 0.0)) for b in buckets] + [("+Inf", count)]
    return HistogramMetricFamily(name, documentation, buckets=cumulative, sum_value=stats.get(f"{prefix}_sum", 0.0))


class StateCollector:
    """Reads PostgreSQL and Redis at each scrape (a few indexed queries; a scrape every 15 s)."""

    def collect(self):
        ready = health.readiness()
        gauge = GaugeMetricFamily("referendum_ready", "1 if the readiness check passes (as /readyz).",
                                  labels=["check"])
        for name, check in ready["checks"].items():
            gauge.add_metric([name], 1.0 if check["ok"] else 0.0)
        yield gauge
        yield GaugeMetricFamily(
            "referendum_publish_min_ballots",
            "K: a sealing run publishes only when at least this many ballots of a poll wait.",
            value=float(settings.PUBLISH_MIN_BALLOTS),
        )
        # A part that fails mid-scrape (a service dropped since the checks) is left out, not a 500:
        # referendum_ready already says what is wrong.
        if ready["checks"]["postgres"]["ok"]:
            yield from self._part(self._polls)
        if ready["checks"]["redis"]["ok"] and not settings.EMBEDDED_TASKS:
            yield from self._part(self._worker)

    @staticmethod
    def _part(collect):
        try:
            families = list(collect())
        except Exception as error:  # noqa: BLE001
            log.warning("Metrics: %s left out (%s).", collect.__name__, type(error).__name__)
            return []
        return families

    def _polls(self):
        families = {
            key: GaugeMetricFamily(name, text, labels=["poll", "region"])
            for key, name, text in (
                ("received", "referendum_ballots_received", "Ballots accepted (counted + waiting)."),
                ("counted", "referendum_ballots_counted", "Ballots in the published ledger (head position)."),
                ("waiting", "referendum_ballots_waiting", "Ballots accepted, not yet published."),
                ("publication_age", "referendum_publication_age_seconds",
                 "Seconds since the poll's last publication (or since it opened, if none yet)."),
                ("open", "referendum_poll_open", "1 while the poll accepts ballots."),
                ("beyond_codes", "referendum_ballots_beyond_codes",
                 "Ballots the latest signed statement counts beyond the codes used (stuffing): 0 when sound."),
                ("statement_invalid", "referendum_statement_invalid",
                 "1 when the latest signed statement does not verify on its own or against the one before it."),
            )
        }
        for figure in poll_figures():
            for key, family in families.items():
                family.add_metric([figure["poll"], figure["region"]], float(figure[key]))
        yield from families.values()

    def _worker(self):
        client = health.redis_client()
        age = health.heartbeat_age(client)
        if age is not None:
            yield GaugeMetricFamily("referendum_sealing_heartbeat_age_seconds",
                                    "Seconds since the worker last finished a sealing run.", value=age)
        stats = health.sealing_stats(client)
        yield _histogram("referendum_sealing_run_duration_seconds", "Duration of periodic sealing runs.",
                         stats, "duration", health.SEAL_DURATION_BUCKETS)
        yield _histogram("referendum_sealing_run_ballots", "Ballots published per periodic sealing run.",
                         stats, "ballots", health.SEAL_BALLOTS_BUCKETS)
        yield from mirror_families(client)
        mails = health.email_stats(client)
        yield CounterMetricFamily("referendum_email_sent", "Registration mails sent by the worker.",
                                  value=mails.get("sent", 0.0))
        yield CounterMetricFamily("referendum_email_failed", "Registration mails the worker could not send.",
                                  value=mails.get("failed", 0.0))


def newest_statement_time():
    """Unix time of the newest signed statement of any poll, or None."""
    from django.db.models import Max

    from tallying.models import Snapshot

    newest = Snapshot.objects.filter(signature__isnull=False).exclude(statement="").aggregate(t=Max("taken_at"))["t"]
    return newest.timestamp() if newest else None


def mirror_families(client):
    """Per mirror target (MIRROR_TARGETS, and any the worker reported): failed pushes, the last
    success, whether the last attempt failed, and how far the target lags behind the newest
    statement (0 when it holds it)."""
    from tallying.mirror_targets import parse_targets

    stats = health.mirror_stats(client)
    names = sorted({t.name for t in parse_targets(settings.MIRROR_TARGETS)} | set(stats))
    if not names:
        return
    failures = CounterMetricFamily("referendum_mirror_push_failures", "Mirror pushes that failed (each attempt).",
                                   labels=["target"])
    success = GaugeMetricFamily("referendum_mirror_last_success_timestamp_seconds",
                                "Unix time of the target's last successful push (0: never).", labels=["target"])
    failing = GaugeMetricFamily("referendum_mirror_push_failing",
                                "1 when the target's last push attempt failed.", labels=["target"])
    lag = GaugeMetricFamily("referendum_mirror_lag_seconds",
                            "How much older the newest statement on the target is than the newest published "
                            "(the time since that publication if the target never got a bundle).", labels=["target"])
    newest = newest_statement_time()
    for name in names:
        s = stats.get(name, {})
        failures.add_metric([name], s.get("failures", 0.0))
        success.add_metric([name], s.get("last_success", 0.0))
        failing.add_metric([name], 1.0 if s.get("last_failure", 0.0) > s.get("last_success", 0.0) else 0.0)
        if newest is not None:
            held = s.get("newest_statement")
            lag.add_metric([name], max(0.0, newest - held) if held else max(0.0, timezone.now().timestamp() - newest))
    yield from (failures, success, failing, lag)


def scrape_registry():
    """The registry one scrape reads: all web processes' counters plus the state."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:  # one process (runserver, tests): its own counters
        registry.register(_Forward(WEB_REGISTRY))
    registry.register(StateCollector())
    return registry


class _Forward:
    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


def authorized(request):
    """Only a scraper presenting METRICS_TOKEN as `Authorization: Bearer <token>`."""
    token = settings.METRICS_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def render_metrics():
    # The classic text format (0.0.4), which every Prometheus since 2.0 parses.
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
