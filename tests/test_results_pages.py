"""Observers' pages and the tally API: correct figures, complete without JS or SVG, nothing from
another host, labels escaped."""

import re

import pytest
from django.test import Client
from django.utils import translation

from tallying.services import seal_until_caught_up
from tests.factories import make_poll, make_region
from tests.sealing import cast_many


@pytest.fixture
def sealed(db):
    siberia = make_poll()
    urals = make_poll(region=make_region("urals", "Urals", "Урал"))
    yes, no = siberia.options.all()
    cast_many(siberia, 3, option_index=0)
    seal_until_caught_up(siberia.id)
    cast_many(siberia, 1, option_index=1)
    seal_until_caught_up(siberia.id)
    return {"siberia": siberia, "urals": urals, "yes": yes, "no": no}


def row(html, label):
    match = re.search(rf"<th scope=\"row\">{re.escape(label)}</th>\s*<td[^>]*>(\d+)</td>\s*<td[^>]*>([\d.]+)</td>", html)
    assert match, f"no row for {label}"
    return int(match.group(1)), match.group(2)


def test_results_show_every_region_with_counts_and_percentages(sealed):
    html = Client().get("/results/").content.decode()
    assert "Siberia" in html and "Urals" in html
    assert row(html, "Yes")[0] == 3  # first "Yes" row is Siberia's (display order)
    assert row(html, "Yes") == (3, "75.0")
    assert row(html, "No") == (1, "25.0")
    assert '<meter min="0" max="100" value="75.0"' in html
    assert "<svg" in html and "turnout" in html  # two snapshots: a line is drawn
    assert re.search(r"as of \d\d:\d\d:\d\d UTC \(\d+ s ago\)", html)
    assert "No ballot counted yet." in html  # Urals has nothing sealed


def test_pages_load_nothing_from_elsewhere_and_have_no_inline_script_or_style(sealed):
    for url in ("/results/", "/results/siberia/"):
        html = Client().get(url).content.decode()
        assert not re.search(r"(src|href)=\"(https?:)?//", html), url
        assert " style=" not in html and "<style" not in html
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/js/live-tally.js" defer>']
        assert "<noscript>" in html or "Refresh" in html


def test_region_page_shows_the_time_series(sealed):
    html = Client().get("/results/siberia/").content.decode()
    series = re.findall(r"<tr><td>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d</td><td class=\"num\">(\d+)</td>", html)
    assert series == ["4", "3"]  # newest first
    assert Client().get("/results/atlantis/").status_code == 404


def test_answer_labels_are_escaped(db):
    poll = make_poll(answers=(("<script>alert(1)</script>", "<b>x</b>"), ("No", "Нет")))
    cast_many(poll, 2)
    seal_until_caught_up(poll.id)
    html = Client().get("/results/").content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_results_in_russian(sealed):
    html = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/results/").content.decode()
    assert "Сибирь" in html and "Да" in html
    with translation.override("ru"):
        assert translation.gettext("Live results") in html


def test_tally_api_has_etag_and_short_cache(sealed, django_capture_on_commit_callbacks):
    client = Client()
    poll = sealed["siberia"]
    response = client.get(f"/api/v1/polls/{poll.id}/tally")
    body = response.json()
    assert body["total"] == 4 and body["head"]["position"] == 4 and len(body["head"]["hash"]) == 64
    assert response["Cache-Control"] == "public, max-age=2"
    again = client.get(f"/api/v1/polls/{poll.id}/tally", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304
    cast_many(poll, 1)
    with django_capture_on_commit_callbacks(execute=True):  # the cache refresh runs after commit
        seal_until_caught_up(poll.id)
    changed = client.get(f"/api/v1/polls/{poll.id}/tally", HTTP_IF_NONE_MATCH=response["ETag"])
    assert changed.status_code == 200 and changed.json()["total"] == 5


def test_snapshots_api(sealed):
    poll = sealed["siberia"]
    snapshots = Client().get(f"/api/v1/polls/{poll.id}/snapshots").json()["snapshots"]
    assert [s["total"] for s in snapshots] == [3, 4]
    since = snapshots[0]["taken_at"]
    later = Client().get(f"/api/v1/polls/{poll.id}/snapshots", {"since": since}).json()["snapshots"]
    assert [s["total"] for s in later] == [4]
    bad = Client().get(f"/api/v1/polls/{poll.id}/snapshots", {"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"] == "bad_since"
    assert Client().get("/api/v1/polls/999999/tally").status_code == 404
    detail = Client().get(f"/api/v1/polls/{poll.id}").json()
    assert detail["tally"]["total"] == 4 and detail["region"] == "siberia"
