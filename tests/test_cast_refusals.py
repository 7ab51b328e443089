"""Bad input through the HTML form and the JSON API: the right status, a clear message, no ballot
written and the code not consumed."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation

from ballots import codes, services
from ballots.errors import CodeUnknown
from ballots.models import Credential, InboxBallot, Poll
from tests.factories import make_codes, make_poll, make_region
from tests.sealing import waiting_options


def credential_of(code):
    return Credential.objects.get(code_hash=codes.hash_code(codes.normalize_code(code)))


@pytest.fixture
def world(db):
    """An open poll in Siberia with fresh codes, and a second region's open poll."""
    siberia = make_poll()
    urals = make_poll(region=make_region("urals", "Urals", "Урал"))
    return {
        "siberia": siberia,
        "urals": urals,
        "codes": make_codes(siberia, 3),
        "urals_code": make_codes(urals, 1)[0],
    }


def form_client(poll):
    """A browser-like client: CSRF enforced, token taken from a real page."""
    client = Client(enforce_csrf_checks=True)
    assert client.get(f"/polls/{poll.id}/").status_code == 200
    return client, client.cookies["csrftoken"].value


def submit(channel, poll_id, code, option_id, world):
    if channel == "form":
        client, token = form_client(world["siberia"])
        return client.post(
            f"/polls/{poll_id}/cast", {"code": code, "option": option_id, "csrfmiddlewaretoken": token}
        )
    return Client().post(
        f"/api/v1/polls/{poll_id}/ballots",
        data=json.dumps({"code": code, "option": option_id}),
        content_type="application/json",
    )


def assert_refused(response, channel, status, error, message):
    assert response.status_code == status
    if channel == "api":
        body = response.json()
        assert body["error"] == error
        assert message in body["message"]
    else:
        assert message in response.content.decode()
    assert "no-store" in response["Cache-Control"]


CHANNELS = ["form", "api"]


@pytest.mark.parametrize("channel", CHANNELS)
def test_unknown_code(world, channel):
    unknown = codes.new_code()
    response = submit(channel, world["siberia"].id, unknown, world["siberia"].options.first().id, world)
    assert_refused(response, channel, 403, "code_unknown", "not valid")
    assert not InboxBallot.objects.exists()


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("typed", ["12345", "K7QM-2XWP-9HTR-4FZA", "K7QM-2XWP-9HTR-4FZA-8B3U", "ЖЖЖЖ-2XWP-9HTR-4FZA-8B3D"])
def test_malformed_code(world, channel, typed):
    response = submit(channel, world["siberia"].id, typed, world["siberia"].options.first().id, world)
    assert_refused(response, channel, 400, "code_malformed", "does not look like a voting code")
    assert not InboxBallot.objects.exists()


@pytest.mark.parametrize("channel", CHANNELS)
def test_code_of_another_regions_poll(world, channel):
    code = world["urals_code"]
    response = submit(channel, world["siberia"].id, code, world["siberia"].options.first().id, world)
    assert_refused(response, channel, 403, "code_other_poll", "referendum: Urals")
    assert not InboxBallot.objects.exists()
    assert credential_of(code).used is False


@pytest.mark.parametrize("channel", CHANNELS)
def test_option_of_another_poll(world, channel):
    code = world["codes"][0]
    foreign_option = world["urals"].options.first().id
    response = submit(channel, world["siberia"].id, code, foreign_option, world)
    assert_refused(response, channel, 400, "bad_option", "choose one of the answers")
    assert not InboxBallot.objects.exists()
    assert credential_of(code).used is False


@pytest.mark.parametrize("channel", CHANNELS)
def test_code_already_used(world, channel):
    code = world["codes"][0]
    poll = world["siberia"]
    first = submit(channel, poll.id, code, poll.options.first().id, world)
    assert first.status_code in (200, 201)
    again = submit(channel, poll.id, code, poll.options.last().id, world)
    assert_refused(again, channel, 409, "code_used", "already been used")
    ballots = list(InboxBallot.objects.all())
    assert len(ballots) == 1
    assert waiting_options(poll) == [poll.options.first().id]  # the accepted ballot is unchanged


def set_window(poll, state=None, opens_in=None, closes_in=None):
    now = timezone.now()
    if opens_in is not None:
        poll.opens_at = now + opens_in
    if closes_in is not None:
        poll.closes_at = now + closes_in
        if poll.opens_at >= poll.closes_at:
            poll.opens_at = poll.closes_at - timedelta(days=1)
    if state is not None:
        poll.state = state
    poll.save()


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    "change, status, error, message",
    [
        (dict(state=Poll.State.SCHEDULED, opens_in=timedelta(hours=3)), 409, "poll_not_open", "has not started"),
        (dict(state=Poll.State.PAUSED), 409, "poll_paused", "paused"),
        (dict(state=Poll.State.CLOSED), 409, "poll_closed", "closed"),
        (dict(closes_in=timedelta(seconds=-1)), 409, "poll_closed", "closed"),
        (dict(state=Poll.State.DRAFT), 404, "poll_not_found", "no such referendum"),
    ],
    ids=["not-yet-open", "paused", "closed", "past-closing-time", "draft"],
)
def test_poll_not_accepting(world, channel, change, status, error, message):
    poll = world["siberia"]
    code = world["codes"][0]
    token_client = form_client(poll) if channel == "form" else None
    if change.get("state") == Poll.State.DRAFT:
        # A poll never goes back to draft (the database refuses): take one that never left it.
        poll = make_poll(state=Poll.State.DRAFT, region=make_region("urals", "Urals", "Урал"))
        code = make_codes(poll, 1)[0]
    else:
        set_window(poll, **change)
    if channel == "form":
        client, token = token_client
        response = client.post(
            f"/polls/{poll.id}/cast",
            {"code": code, "option": poll.options.first().id, "csrfmiddlewaretoken": token},
        )
    else:
        response = submit(channel, poll.id, code, poll.options.first().id, world)
    assert_refused(response, channel, status, error, message)
    assert not InboxBallot.objects.exists()
    assert credential_of(code).used is False


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("poll_id", [987654, 2**63, 2**64 + 1])  # beyond a bigint (schemathesis found 2**63)
def test_poll_that_does_not_exist(world, channel, poll_id):
    code = world["codes"][0]
    response = submit(channel, poll_id, code, world["siberia"].options.first().id, world)
    assert_refused(response, channel, 404, "poll_not_found", "no such referendum")
    assert credential_of(code).used is False


def test_service_refuses_ids_beyond_a_bigint(world):
    from ballots.errors import BadOption, PollNotFound

    poll, code = world["siberia"], world["codes"][0]
    with pytest.raises(PollNotFound):
        services.cast_ballot(2**63, code, poll.options.first().id)
    with pytest.raises(BadOption):
        services.cast_ballot(poll.id, code, 2**63)
    assert credential_of(code).used is False


def test_form_without_csrf_token_is_refused(world):
    poll, code = world["siberia"], world["codes"][0]
    client = Client(enforce_csrf_checks=True)
    client.get(f"/polls/{poll.id}/")
    response = client.post(f"/polls/{poll.id}/cast", {"code": code, "option": poll.options.first().id})
    assert response.status_code == 403
    assert "expired or came from another site" in response.content.decode()
    assert not InboxBallot.objects.exists()
    assert credential_of(code).used is False


def test_api_refuses_a_cross_site_form_post(world):
    """An HTML form on another site cannot send application/json: the API accepts nothing else."""
    poll, code = world["siberia"], world["codes"][0]
    response = Client().post(f"/api/v1/polls/{poll.id}/ballots", {"code": code, "option": poll.options.first().id})
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_media_type"
    assert not InboxBallot.objects.exists()
    assert credential_of(code).used is False


@pytest.mark.parametrize("url", ["/polls/{id}/cast", "/api/v1/polls/{id}/ballots"])
def test_get_on_the_cast_url(world, url):
    response = Client().get(url.format(id=world["siberia"].id))
    assert response.status_code == 405
    assert "POST" in response["Allow"]
    text = response.content.decode()
    assert "Nothing was recorded" in (response.json()["message"] if url.startswith("/api") else text)
    assert not InboxBallot.objects.exists()


@pytest.mark.parametrize("channel", CHANNELS)
def test_oversized_body(world, channel):
    poll, code = world["siberia"], world["codes"][0]
    padding = "x" * (settings.MAX_BODY_BYTES + 1)
    if channel == "form":
        client, token = form_client(poll)
        response = client.post(
            f"/polls/{poll.id}/cast",
            {"code": code, "option": poll.options.first().id, "csrfmiddlewaretoken": token, "pad": padding},
        )
    else:
        response = Client().post(
            f"/api/v1/polls/{poll.id}/ballots",
            data=json.dumps({"code": code, "option": poll.options.first().id, "pad": padding}),
            content_type="application/json",
        )
    assert_refused(response, channel, 413, "body_too_large", "too large")
    assert not InboxBallot.objects.exists()
    assert credential_of(code).used is False


@pytest.mark.parametrize(
    "body, error",
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_request"),
        ('{"code": 12345, "option": 1}', "invalid_request"),
        ('{"code": "K7QM-2XWP-9HTR-4FZA-8B3D"}', "invalid_request"),
        ('{"code": "K7QM-2XWP-9HTR-4FZA-8B3D", "option": true}', "bad_option"),
        ('{"code": "K7QM-2XWP-9HTR-4FZA-8B3D", "option": "first"}', "bad_option"),
    ],
)
def test_api_malformed_requests(world, body, error):
    response = Client().post(f"/api/v1/polls/{world['siberia'].id}/ballots", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"] == error
    assert response.json()["message"]
    assert not InboxBallot.objects.exists()


def test_first_step_checks_without_consuming_the_code(world):
    poll, code = world["siberia"], world["codes"][0]
    client, token = form_client(poll)
    option = poll.options.last()
    response = client.post(f"/polls/{poll.id}/", {"code": code, "option": option.id, "csrfmiddlewaretoken": token})
    assert response.status_code == 200
    assert "You are about to vote:" in response.content.decode()
    assert option.label_en in response.content.decode()
    assert credential_of(code).used is False and not InboxBallot.objects.exists()
    refused = client.post(f"/polls/{poll.id}/", {"code": codes.new_code(), "option": option.id, "csrfmiddlewaretoken": token})
    assert refused.status_code == 403 and "not valid" in refused.content.decode()


def test_refusal_in_russian(world):
    response = Client(HTTP_ACCEPT_LANGUAGE="ru").post(
        f"/api/v1/polls/{world['siberia'].id}/ballots",
        data=json.dumps({"code": codes.new_code(), "option": world["siberia"].options.first().id}),
        content_type="application/json",
    )
    assert response.status_code == 403
    body = response.json()
    assert body["error"] == "code_unknown"
    with translation.override("ru"):
        expected = str(CodeUnknown.message)
    assert body["message"] == expected


def test_codes_and_trackers_are_uniform_over_the_alphabet():
    """Each symbol is 5 random bits: over 40,000 symbols every one of the 32 appears about
    1/32 of the time (a bias such as a modulo or a fixed symbol would fall far outside), and
    what is generated reads back as itself."""
    symbols = "".join(codes.random_symbols(40) for _ in range(1000))
    counts = {symbol: symbols.count(symbol) for symbol in codes.ALPHABET}
    assert len(symbols) == 40_000 and set(symbols) <= set(codes.ALPHABET)
    expected = len(symbols) / 32  # 1,250 each; a standard deviation is about 35
    assert all(abs(n - expected) < 200 for n in counts.values()), counts
    code, tracker = codes.new_code(), codes.new_tracker()
    assert len(codes.normalize_code(code)) == codes.CODE_SYMBOLS and codes.normalize_code(code) == code.replace("-", "")
    assert codes.normalize_tracker(tracker) == tracker.replace("-", "") and len(tracker.replace("-", "")) == 32
    assert len({codes.new_code() for _ in range(1000)}) == 1000
