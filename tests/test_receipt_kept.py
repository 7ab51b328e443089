"""The tracker is drawn before the ballot is cast and kept by the forms, bound to the code by a
token: the same ballot sent again shows the same receipt, never a refusal; a client can neither
choose a tracker nor move one to another code; a used code without a token says what to do."""

import re

from django.test import Client

from ballots import codes
from ballots.keys import open_waiting
from ballots.models import InboxBallot
from tests.factories import make_codes, make_poll


def hidden_fields(response):
    """The ballot's hidden fields (those of the confirm form; "Go back and change" adds step)."""
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', response.content.decode()))
    fields.pop("step", None)
    return fields


def shown_tracker(response):
    return re.search(r'id="tracker" data-tracker="([0-9A-Z-]+)"', response.content.decode()).group(1)


def to_confirmation(client, poll, code, option):
    page = client.get(f"/polls/{poll.id}/")
    drawn = hidden_fields(page)
    response = client.post(f"/polls/{poll.id}/", {**drawn, "code": code, "option": option.id})
    assert response.status_code == 200 and b"Confirm your vote" in response.content
    return response


def stored_tracker_hashes(poll):
    return {bytes(tracker) for _option, tracker in open_waiting(poll.id)}  # opened with the key store's key


def test_the_receipt_is_the_tracker_shown_before_confirming(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    client = Client()
    confirmation = to_confirmation(client, poll, code, poll.options.last())
    tracker = shown_tracker(confirmation)
    assert "Write this down" in confirmation.content.decode()
    receipt = client.post(f"/polls/{poll.id}/cast", hidden_fields(confirmation))
    assert receipt.status_code == 200 and shown_tracker(receipt) == tracker
    assert stored_tracker_hashes(poll) == {codes.hash_tracker(codes.normalize_tracker(tracker))}


def test_the_same_ballot_again_shows_the_same_receipt(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    client = Client()
    confirmation = to_confirmation(client, poll, code, poll.options.first())
    tracker = shown_tracker(confirmation)
    first = client.post(f"/polls/{poll.id}/cast", hidden_fields(confirmation))
    again = client.post(f"/polls/{poll.id}/cast", hidden_fields(confirmation))
    assert first.status_code == again.status_code == 200
    assert shown_tracker(again) == tracker
    body = again.content.decode()
    assert "Your code has been used" in body and 'class="error"' not in body
    assert "no-store" in again["Cache-Control"]
    assert InboxBallot.objects.filter(poll=poll).count() == 1


def test_back_sends_the_vote_step_again_and_shows_the_receipt(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    client = Client()
    drawn = hidden_fields(client.get(f"/polls/{poll.id}/"))
    vote_step = {**drawn, "code": code, "option": poll.options.first().id}
    confirmation = client.post(f"/polls/{poll.id}/", vote_step)
    client.post(f"/polls/{poll.id}/cast", hidden_fields(confirmation))
    back = client.post(f"/polls/{poll.id}/", vote_step)
    assert back.status_code == 200 and shown_tracker(back) == shown_tracker(confirmation)
    assert "If you came back here with the browser's Back button" in back.content.decode()


def test_a_token_does_not_carry_a_tracker_to_another_code(db):
    poll = make_poll()
    first, second = make_codes(poll, 2)
    client = Client()
    fields = hidden_fields(to_confirmation(client, poll, first, poll.options.first()))
    receipt = client.post(f"/polls/{poll.id}/cast", {**fields, "code": second})
    assert receipt.status_code == 200
    assert shown_tracker(receipt) != fields["tracker"]  # a fresh tracker, not the one of the other code
    assert stored_tracker_hashes(poll) == {codes.hash_tracker(codes.normalize_tracker(shown_tracker(receipt)))}
    # The first code's confirmation still works, with its own tracker.
    assert shown_tracker(client.post(f"/polls/{poll.id}/cast", fields)) == fields["tracker"]


def test_a_client_cannot_choose_its_tracker(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    client = Client()
    fields = hidden_fields(to_confirmation(client, poll, code, poll.options.first()))
    chosen = codes.new_tracker()
    receipt = client.post(f"/polls/{poll.id}/cast", {**fields, "tracker": chosen})
    assert shown_tracker(receipt) not in (chosen, fields["tracker"])
    drawn_token_only = hidden_fields(Client().get(f"/polls/{poll.id}/"))  # a token given before any code
    (other,) = make_codes(poll)
    receipt = client.post(f"/polls/{poll.id}/cast", {**fields, **drawn_token_only, "code": other})
    assert shown_tracker(receipt) != drawn_token_only["tracker"]


def test_a_used_code_without_a_token_says_what_to_do(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    Client().post(f"/polls/{poll.id}/cast", {"code": code, "option": poll.options.first().id})
    refused = Client(HTTP_ACCEPT_LANGUAGE="ru").post(
        f"/polls/{poll.id}/cast", {"code": code, "option": poll.options.first().id}
    )
    body = refused.content.decode()
    assert refused.status_code == 409 and 'id="used-help"' in body
    assert "Если вы только что проголосовали с этим кодом" in body


def test_go_back_and_change_keeps_the_code_and_the_answer(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    client = Client()
    answer = poll.options.last()
    fields = hidden_fields(to_confirmation(client, poll, code, answer))
    back = client.post(f"/polls/{poll.id}/", {**fields, "step": "change"})
    body = back.content.decode()
    assert back.status_code == 200 and "Confirm your vote" not in body
    assert f'value="{codes.group(codes.normalize_code(code))}"' in body
    assert re.search(rf'value="0*{answer.id}"[^>]*checked', body)
    assert hidden_fields(back)["tracker"] == fields["tracker"]  # the receipt to be stays the same
    assert not InboxBallot.objects.exists()


def test_the_language_switch_on_the_confirmation_keeps_the_ballot(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    client = Client()
    fields = hidden_fields(to_confirmation(client, poll, code, poll.options.first()))
    switched = client.post(f"/polls/{poll.id}/", {**fields, "language": "ru"})
    body = switched.content.decode()
    assert switched.status_code == 200 and "Подтвердите" in body, re.findall(r"class=\"error[^<]*", body)
    assert 'lang="ru"' in body
    assert hidden_fields(switched)["code"] == fields["code"] and shown_tracker(switched) == fields["tracker"]
    assert switched.cookies["django_language"].value == "ru"
    assert Client().get(f"/polls/{poll.id}/", HTTP_COOKIE="django_language=ru").content.decode().count('lang="ru"')
