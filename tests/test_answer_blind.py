"""Nothing we send or log depends on the answer's length: the pages that carry an answer have one
size per language, form posts for different answers have one length, and the access log holds
neither sizes nor query strings. (Sizes are what a log or a network observer sees, even over TLS.)"""

import re
import urllib.parse
import urllib.request
from html import unescape

import pytest
from django.test import Client

from ballots.services import cast_ballot
from tallying.services import seal_poll
from tests.factories import make_codes, make_poll
from tests.servers import gunicorn

# Labels of different lengths, in bytes too (Cyrillic is 2 bytes a letter), one needing escaping.
ANSWERS = (("Yes", "Да"), ("No", "Нет"), ("Abstain & <think>", "Воздержаться"))
LANGUAGES = ("en", "ru")


def client(language):
    return Client(HTTP_ACCEPT_LANGUAGE=language)


def hidden_fields(html):
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


@pytest.fixture
def poll(db):
    return make_poll(answers=ANSWERS)


@pytest.mark.parametrize("language", LANGUAGES)
def test_confirmation_page_and_its_form_post_have_one_length_whatever_the_answer(poll, language):
    (code,) = make_codes(poll, 1)
    sizes, bodies, labels = {}, {}, {}
    for option in poll.options.all():
        response = client(language).post(f"/polls/{poll.id}/", {"code": code, "option": option.id})
        assert response.status_code == 200
        html = response.content.decode()
        labels[option.id] = unescape(re.search(r"<strong>(.*?)<span", html).group(1))
        sizes[option.id] = len(response.content)
        fields = hidden_fields(html)
        assert int(fields["option"]) == option.id
        bodies[option.id] = len(urllib.parse.urlencode(
            {"csrfmiddlewaretoken": "x" * 64, "code": unescape(fields["code"]), "option": fields["option"]}
        ))
    expected = {o.id: (o.label_ru if language == "ru" else o.label_en) for o in poll.options.all()}
    assert labels == expected  # the page does show each answer …
    assert len(set(sizes.values())) == 1, f"confirmation page sizes differ by answer: {sizes}"  # … in one size
    assert len(set(bodies.values())) == 1, f"form bodies differ by answer: {bodies}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_vote_form_sends_answers_of_one_width(poll, language):
    html = client(language).get(f"/polls/{poll.id}/").content.decode()
    values = re.findall(r'name="option" value="([^"]*)"', html)
    assert len(values) == len(ANSWERS)
    assert {len(v) for v in values} == {10}
    assert sorted(int(v) for v in values) == sorted(poll.options.values_list("id", flat=True))


@pytest.mark.parametrize("language", LANGUAGES)
def test_receipt_page_has_one_length_whatever_the_answer(poll, language):
    sizes = {}
    for option, code in zip(poll.options.all(), make_codes(poll, len(ANSWERS)), strict=True):
        response = client(language).post(f"/polls/{poll.id}/cast", {"code": code, "option": f"{option.id:010d}"})
        assert response.status_code == 200 and b'id="tracker"' in response.content
        sizes[option.id] = len(response.content)
    assert len(set(sizes.values())) == 1, f"receipt sizes differ by answer: {sizes}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_receipt_lookup_has_one_length_whatever_the_answer(poll, language, settings):
    settings.PUBLISH_MIN_BALLOTS = len(ANSWERS)
    options = list(poll.options.all())
    trackers = {o.id: cast_ballot(poll.id, code, o.id) for o, code in zip(options, make_codes(poll, len(options)), strict=True)}
    assert seal_poll(poll.id) == len(options)
    sizes = {}
    for option in options:
        response = client(language).post("/verify/", {"tracker": trackers[option.id]})
        html = response.content.decode()
        assert response.status_code == 200
        shown = unescape(re.search(r"<dd>([^<]*)<span class=\"filler\"", html).group(1))
        assert shown == (option.label_ru if language == "ru" else option.label_en)
        sizes[option.id] = len(response.content)
    assert len(set(sizes.values())) == 1, f"receipt lookup sizes differ by answer: {sizes}"


def test_access_log_format_has_no_size_or_query_string():
    namespace = {}
    exec(open("referendum/gunicorn.conf.py").read(), namespace)  # noqa: S102 — our own config file
    log_format = namespace["access_log_format"]
    # gunicorn's atoms: b/B = size, r = request line with query, q = query, a = agent, h = address.
    for atom in ("%(b)s", "%(B)s", "%(r)s", "%(q)s", "%(a)s", "%(h)s"):
        assert atom not in log_format, atom
    for header in ("{content-length}o", "{x-forwarded-for}i", "{user-agent}i"):
        assert header not in log_format.lower(), header


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_access_log_lines_hold_no_size_or_query_string(poll, tmp_path):
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(log_path) as (base, _server):
        body = urllib.request.urlopen(f"{base}/ledger/{poll.id}/?after=4242", timeout=10).read()
    lines = [line for line in log_path.read_text().splitlines() if '"GET /ledger/' in line]
    assert len(lines) == 1, log_path.read_text()
    line = lines[0]
    assert "4242" not in line and "after" not in line and "?" not in line
    assert body  # the page was served; its size must not be in the line:
    assert re.fullmatch(rf'"GET /ledger/{poll.id}/ HTTP/1\.1" 200 \d+ms', line.strip()), line
