"""`make bench` is kept out of `make test`, but its scripts must still import, parse their tools'
output, and the bare-cast baseline must do what the application's cast does at its core."""

import json
import py_compile
from pathlib import Path

from django.test import RequestFactory

from ballots import codes
from ballots.models import Credential, InboxBallot
from bench import run
from bench.baseline import views
from tests.factories import make_codes, make_poll

BENCH = Path(__file__).resolve().parent.parent / "bench"

WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:8131/api/v1/polls/1/tally
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.10ms    1.00ms  30.00ms   90.00%
  Latency Distribution
     50%    1.95ms
     75%    2.50ms
     90%    3.10ms
     99%  812.00us
  12000 requests in 8.00s, 5.00MB read
  Non-2xx or 3xx responses: 7
Requests/sec:   1500.25
Transfer/sec:    640.00KB
"""

SEAL_OUTPUT = """poll 3: one batch = 10,000 ballots, 5 runs per measurement
batch time with         0 already sealed: median   700.0 ms
inserted 300,000 waiting ballots in 3.0 s
sealed 300,000 ballots in 20.0 s: 15,000 ballots/s
batch time with   350,000 already sealed: median   770.0 ms
ratio (full / empty ledger): 1.10
filled 9,650,000 more sealed entries and used codes by SQL in 300 s
batch time with 10,050,000 already sealed: median   805.0 ms
ratio (filled / empty ledger): 1.15
"""


def test_every_bench_script_compiles():
    for script in BENCH.rglob("*.py"):
        py_compile.compile(str(script), doraise=True)
    for script in ("cast.lua", "etag.lua", "form.lua"):
        assert "function init(args)" in (BENCH / script).read_text()


def test_wrk_and_seal_output_are_parsed():
    assert run.parse_wrk(WRK_OUTPUT) == {"rate": 1500.25, "p50": 1.95, "p99": 0.812, "errors": 7}
    assert run.parse_seal(SEAL_OUTPUT) == {"empty_ms": 700.0, "points": [(350_000, 770.0), (10_050_000, 805.0)],
                                           "rate": 15_000.0}


def test_bare_cast_baseline_locks_inserts_and_marks_used(db):
    poll = make_poll()
    code = make_codes(poll, 1)[0]
    body = json.dumps({"code": code, "option": poll.options.first().id})
    request = RequestFactory().post(f"/bare-cast/{poll.id}", body, content_type="application/json")
    assert views.bare_cast(request, poll.id).status_code == 201
    assert InboxBallot.objects.filter(poll=poll).count() == 1
    assert Credential.objects.get(code_hash=codes.hash_code(codes.normalize_code(code))).used
    again = RequestFactory().post(f"/bare-cast/{poll.id}", body, content_type="application/json")
    assert views.bare_cast(again, poll.id).status_code == 409
    assert views.minimal_json(RequestFactory().get("/json")).status_code == 200
