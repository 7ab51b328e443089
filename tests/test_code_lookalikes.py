"""Codes typed the way people type them: Cyrillic (and Greek) look-alikes of the code's symbols,
full-width forms, Unicode spaces and dashes become the code; a symbol that cannot be part of a
code is named in the refusal, in English and Russian, through the HTML form and the JSON API."""

import json
import re

import pytest
from django.test import Client

from ballots import codes
from ballots.models import Credential, InboxBallot
from referendum import limits
from tests.factories import make_codes, make_poll

# Every Cyrillic letter that looks like a symbol of the code alphabet, and that symbol.
CYRILLIC = {
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "0", "Р": "P", "С": "C", "Т": "T",
    "Х": "X", "У": "Y", "З": "3", "Ѕ": "S", "І": "1", "Ӏ": "1", "Ј": "J", "Ү": "Y", "Ԛ": "Q", "Ԝ": "W",
}
# Lower-case Cyrillic as a phone keyboard gives it (small capitals in print: в, к, м, н, т).
CYRILLIC_LOWER = {ch.lower(): target for ch, target in CYRILLIC.items() if ch.lower() != ch}


def test_the_table_covers_every_cyrillic_look_alike():
    assert {ch: t for ch, t in codes.LOOK_ALIKES.items() if "\u0400" <= ch <= "\u04ff" or ch in "ԚԜ"} == CYRILLIC
    assert len(CYRILLIC_LOWER) == len(CYRILLIC)
    for typed, target in {**CYRILLIC, **CYRILLIC_LOWER}.items():
        assert target in codes.ALPHABET
        assert codes.canonical(typed) == target, typed


@pytest.mark.parametrize(
    "typed",
    [
        "к7qм-2хwр-9нтr-4fzа-8в3d",  # Cyrillic where the card shows Latin
        "K7QM\u00a02XWP\u202f9HTR\u20094FZA\u30008B3D",  # non-breaking, narrow, thin, ideographic spaces
        "K7QM\u20132XWP\u20149HTR\u22124FZA\u20108B3D",  # en dash, em dash, minus sign, hyphen
        "Ｋ７ＱＭ－２ＸＷＰ－９ＨＴＲ－４ＦＺＡ－８Ｂ３Ｄ",  # full width
        "K7QM-2XWP-9HTR-4FZA-8B3D\u200b\ufeff",  # zero-width space, byte-order mark
        "K7QM\u00ad2XWP 9HTR\t4FZA\n8B3D",  # soft hyphen, tab, new line
    ],
)
def test_typed_forms_give_the_code(typed):
    assert codes.normalize_code(typed) == "K7QM2XWP9HTR4FZA8B3D"


def test_rate_limits_do_not_tell_look_alike_spellings_apart():
    # One bucket (a keyed hash of the canonical prefix, so a Redis dump does not name it).
    assert limits._normalized_prefix("КЗОМ-2XWP") == limits._normalized_prefix("k30m 2xwp")
    assert limits._normalized_prefix("КЗОМ-2XWP") != limits._normalized_prefix("K30N-2XWP")


def _code_with(target):
    """A fresh code whose first two symbols are `target`."""
    return target * 2 + codes.new_code().replace("-", "")[2:]


def _lookalike_world():
    """An open poll and, for every Cyrillic look-alike (both cases), a code of that poll that
    holds the symbol it looks like, with the code as a voter would type it."""
    poll = make_poll()
    make_codes(poll, 1)
    batch = poll.code_batches.get()
    cases = []
    for typed, target in {**CYRILLIC, **CYRILLIC_LOWER}.items():
        code = _code_with(target)
        Credential.objects.create(poll=poll, batch=batch, code_hash=codes.hash_code(code))
        cases.append((typed, code, codes.group(code).replace(target, typed)))
    return poll, cases


def _hidden_fields(html):
    return dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))


def test_every_cyrillic_look_alike_through_the_form(db):
    poll, cases = _lookalike_world()
    option = poll.options.first()
    for typed, code, as_typed in cases:
        client = Client()
        confirm = client.post(f"/polls/{poll.id}/", {"code": as_typed, "option": option.id})
        assert confirm.status_code == 200, (typed, confirm.content.decode()[:2000])
        fields = _hidden_fields(confirm.content.decode())
        assert fields["code"] == codes.group(code), typed  # the confirmation shows the code as printed
        receipt = client.post(f"/polls/{poll.id}/cast", fields)
        assert receipt.status_code == 200, typed
        assert 'id="tracker"' in receipt.content.decode()
        assert Credential.objects.get(code_hash=codes.hash_code(code)).used, typed
    assert InboxBallot.objects.filter(poll=poll).count() == len(cases)


def test_every_cyrillic_look_alike_through_the_api(db):
    poll, cases = _lookalike_world()
    option = poll.options.first()
    for typed, code, as_typed in cases:
        response = Client().post(
            f"/api/v1/polls/{poll.id}/ballots", data=json.dumps({"code": as_typed, "option": option.id}),
            content_type="application/json",
        )
        assert response.status_code == 201, (typed, response.content)
        assert Credential.objects.get(code_hash=codes.hash_code(code)).used, typed
    assert InboxBallot.objects.filter(poll=poll).count() == len(cases)


@pytest.mark.parametrize(
    "language, typed, expected",
    [
        ("en", "Ж7QM-2XWP-9HTR-4FZA-8B3D", "“Ж” is not one of its symbols"),
        ("en", "K7QM-2XWP-9HTR-4FZA-8B3U", "“U” is not one of its symbols"),
        ("en", "K7QM-2XWP-9HTR-4FZA-8B3D\u0301", "“U+0301” is not one of its symbols"),  # a combining accent
        ("en", "K7QM-2XWP-9HTR-4FZA", "it has 16 letters and digits, a code has 20"),
        ("ru", "Ж7QM-2XWP-9HTR-4FZA-8B3D", "символа «Ж» в кодах нет"),
        ("ru", "K7QM-2XWP-9HTR-4FZA-8B3#", "символа «#» в кодах нет"),
        ("ru", "K7QM-2XWP-9HTR-4FZA-8B3DD", "в нём 21 буква или цифра, а в коде их 20"),
    ],
)
@pytest.mark.parametrize("channel", ["form", "api"])
def test_the_refusal_names_the_symbol(db, channel, language, typed, expected):
    poll = make_poll()
    make_codes(poll, 1)
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    if channel == "form":
        response = client.post(f"/polls/{poll.id}/", {"code": typed, "option": poll.options.first().id})
        message = response.content.decode()
    else:
        response = client.post(
            f"/api/v1/polls/{poll.id}/ballots", data=json.dumps({"code": typed, "option": poll.options.first().id}),
            content_type="application/json",
        )
        assert response.json()["error"] == "code_malformed"
        message = response.json()["message"]
    assert response.status_code == 400
    assert expected in message
    assert not Credential.objects.filter(used=True).exists()


def test_receipt_lookup_reads_a_tracker_typed_in_cyrillic(db):
    poll = make_poll()
    code = make_codes(poll, 1)[0]
    tracker = Client().post(
        f"/api/v1/polls/{poll.id}/ballots", data=json.dumps({"code": code, "option": poll.options.first().id}),
        content_type="application/json",
    ).json()["tracker"]
    as_typed = tracker.translate(str.maketrans("ABCEHKMPTX", "АВСЕНКМРТХ")).lower()
    page = Client().post("/verify/", {"tracker": as_typed})
    assert page.status_code == 200
    assert "does not look like" not in page.content.decode()
    refused = Client(HTTP_ACCEPT_LANGUAGE="ru").post("/verify/", {"tracker": "Ж" + tracker[1:]})
    assert refused.status_code == 400 and "символа «Ж» в нём быть не может" in refused.content.decode()
