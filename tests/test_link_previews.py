"""Shared links show a preview: every public page has Open Graph and Twitter tags in the page's
language; the results page and each region's page point to a PNG of the current figures, drawn
by our code, served from our host, that changes when a publication changes the counts."""

import io
import re
from html import unescape

import pytest
from django.core.cache import cache
from django.test import Client
from PIL import Image

from ballots.services import cast_ballot
from tallying.services import seal_all_polls
from tests.factories import make_codes, make_poll, make_region

pytestmark = pytest.mark.django_db


def meta(html, key):
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)"', html)
    return unescape(found.group(1)) if found else None


@pytest.fixture
def two_regions():
    polls = [make_poll(region=make_region()), make_poll(region=make_region("urals", "Urals", "Урал"))]
    return polls


def cast(poll, answers):
    """Cast one ballot per answer index in `answers`, then publish (seal) every poll."""
    options = list(poll.options.all())
    for code, index in zip(make_codes(poll, len(answers)), answers, strict=True):
        cast_ballot(poll.id, code, options[index].id)


def fetch_png(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    assert response["Content-Type"] == "image/png"
    assert "max-age" in response["Cache-Control"]
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG" and image.size == (1200, 630)
    return response.content


def test_each_region_preview_is_a_png_that_changes_with_the_counts(two_regions):
    siberia, urals = two_regions
    cast(siberia, [0, 0, 1])
    cast(urals, [1])
    seal_all_polls()
    client = Client()
    before = {}
    for poll in two_regions:
        for lang in ("en", "ru"):
            html = Client(HTTP_ACCEPT_LANGUAGE=lang).get(f"/results/{poll.region.slug}/").content.decode()
            image_url = meta(html, "og:image")
            assert image_url.startswith(f"http://testserver/results/{poll.region.slug}/preview-{lang}.png?v=")
            assert meta(html, "twitter:image") == image_url
            assert meta(html, "twitter:card") == "summary_large_image"
            before[poll.id, lang] = (image_url, fetch_png(client, image_url.removeprefix("http://testserver")))
        assert before[poll.id, "en"][1] != before[poll.id, "ru"][1]  # drawn in the page's language

    # Nothing published in between: the same image (from the cache, not drawn again).
    again = fetch_png(client, "/results/siberia/preview-en.png")
    assert again == before[siberia.id, "en"][1]

    cast(siberia, [1, 1])
    seal_all_polls()
    for lang in ("en", "ru"):
        html = Client(HTTP_ACCEPT_LANGUAGE=lang).get("/results/siberia/").content.decode()
        image_url = meta(html, "og:image")
        assert image_url != before[siberia.id, lang][0]  # messengers see a new URL after a publication
        assert fetch_png(client, image_url.removeprefix("http://testserver")) != before[siberia.id, lang][1]
        # Urals published nothing new: its image and URL stay.
        html = Client(HTTP_ACCEPT_LANGUAGE=lang).get("/results/urals/").content.decode()
        assert meta(html, "og:image") == before[urals.id, lang][0]
        assert fetch_png(client, f"/results/urals/preview-{lang}.png") == before[urals.id, lang][1]


def test_results_overview_preview_and_unknown_previews(two_regions):
    cast(two_regions[0], [0])
    seal_all_polls()
    client = Client()
    first = fetch_png(client, "/results/preview-ru.png")
    html = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/results/").content.decode()
    assert meta(html, "og:image").startswith("http://testserver/results/preview-ru.png?v=")
    assert "Сибирь" in meta(html, "og:description") and "Урал" in meta(html, "og:description")
    cast(two_regions[1], [1, 1])
    seal_all_polls()
    cache.clear()
    assert fetch_png(client, "/results/preview-ru.png") != first
    assert client.get("/results/preview-de.png").status_code == 404
    assert client.get("/results/nowhere/preview-en.png").status_code == 404


def test_received_ballots_show_before_they_are_counted(two_regions):
    siberia = two_regions[0]
    cast(siberia, [0, 1])
    html = Client().get("/results/siberia/").content.decode()
    description = meta(html, "og:description")
    assert "0 counted, 2 received" in description


PUBLIC_PAGES = ["/", "/results/", "/results/siberia/", "/audit/", "/verify/", "/ledger/{poll}/", "/polls/{poll}/"]


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_every_public_page_has_a_title_and_description_in_its_language(two_regions, lang):
    poll = two_regions[0]
    for path in PUBLIC_PAGES:
        html = Client(HTTP_ACCEPT_LANGUAGE=lang).get(path.format(poll=poll.id)).content.decode()
        title, description = meta(html, "og:title"), meta(html, "og:description")
        assert title and description, path
        assert meta(html, "twitter:title") == title and meta(html, "twitter:description") == description
        assert meta(html, "og:locale") == ("ru_RU" if lang == "ru" else "en_US")
        assert meta(html, "og:url") == "http://testserver" + path.format(poll=poll.id)
        cyrillic = bool(re.search("[а-яА-Я]", title + description))
        assert cyrillic == (lang == "ru"), f"{path}: {title} / {description}"
