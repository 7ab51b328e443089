"""One inbox, one code: e-mail addresses are normalized before their keyed hash is taken, domains
can be allowed or denied, and each domain has a budget of registrations."""

import pytest
from django.core import mail
from django.test import Client

from ballots import registration
from ballots.errors import DomainNotAccepted, MalformedAddress
from ballots.models import EmailRegistration
from ballots.services import set_email_registration
from referendum import metrics
from referendum.celery import app
from tests.factories import make_poll


@pytest.mark.parametrize(
    "typed, normalized",
    [
        (" Ann@Mail.RU\t", "ann@mail.ru"),
        ("name+1@example.org", "name@example.org"),
        ("name+ref+2@example.org", "name@example.org"),
        ("First.Last@gmail.com", "firstlast@gmail.com"),
        ("f.i.r.s.t.last+votes@GMAIL.COM", "firstlast@gmail.com"),
        ("first.last@googlemail.com", "firstlast@gmail.com"),
        ("first.last@mail.ru", "first.last@mail.ru"),  # dots matter at most providers
        ("ivan@почта.рф", "ivan@xn--80a1acny.xn--p1ai"),
        ("Ivan@ПОЧТА.РФ", "ivan@xn--80a1acny.xn--p1ai"),
        ("ivan@xn--80a1acny.xn--p1ai", "ivan@xn--80a1acny.xn--p1ai"),
        ("ｎａｍｅ＠ｅｘａｍｐｌｅ．ｏｒｇ", "name@example.org"),  # full-width forms (NFKC)
        ("name@example.org.", "name@example.org"),
    ],
)
def test_normalized_forms(typed, normalized):
    assert registration.normalize_address(typed) == normalized


@pytest.mark.parametrize("typed", ["", "name", "@example.org", "+tag@example.org", "a@b@example.org",
                                   "name@-bad-.org", "name@exa mple..org", "x" * 250 + "@example.org"])
def test_malformed_addresses(typed):
    with pytest.raises(MalformedAddress):
        registration.normalize_address(typed)


def test_the_mail_goes_to_the_address_as_typed():
    assert registration.delivery_address(" First.Last+Votes@GMAIL.com ") == "first.last+votes@gmail.com"


def test_allow_and_deny_lists(settings):
    settings.EMAIL_DOMAINS_DENIED = ["catchall.example"]
    with pytest.raises(DomainNotAccepted):
        registration.check_domain(registration.normalize_address("anyone@catchall.example"))
    registration.check_domain(registration.normalize_address("anyone@mail.ru"))
    settings.EMAIL_DOMAINS_DENIED = []
    settings.EMAIL_DOMAINS_ALLOWED = ["gmail.com", "xn--80a1acny.xn--p1ai"]
    registration.check_domain(registration.normalize_address("a.b@googlemail.com"))
    registration.check_domain(registration.normalize_address("ivan@почта.рф"))
    with pytest.raises(DomainNotAccepted):
        registration.check_domain(registration.normalize_address("anyone@mail.ru"))


@pytest.fixture
def eager_mail(settings):
    """Mails are sent in the request (the worker's own code, run eagerly), into a local outbox."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EMAIL_CODE_MAX_DELAY_SECONDS = 0
    mail.outbox = []
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


def register(poll, address, client=None):
    return (client or Client()).post(f"/polls/{poll.id}/register", {"email": address})


@pytest.mark.django_db(transaction=True)
def test_one_code_per_normalized_address(eager_mail, settings):
    settings.EMAIL_RATE_PER_ADDRESS = "3/d"  # a day's window: no window boundary inside the test
    poll = make_poll()
    set_email_registration(poll.id, True)
    spellings = ["First.Last@gmail.com", "firstlast+1@gmail.com", "f.irstlast+2@googlemail.com"]
    for spelling in spellings:
        assert register(poll, spelling).status_code == 200
    assert EmailRegistration.objects.filter(poll=poll).count() == 1
    # The per-address limit (3 a day here) counts the mailbox, whatever the spelling.
    assert register(poll, "FIRSTLAST@GMAIL.COM").status_code == 429
    codes_sent = [m for m in mail.outbox if "-" in m.body and m.subject and "already" not in m.subject.lower()]
    assert len(mail.outbox) == len(spellings)
    assert mail.outbox[0].to == ["first.last@gmail.com"]  # delivered as typed
    assert len(codes_sent) >= 1
    # Each later spelling got the "already sent" notice, not a code.
    subjects = {m.subject for m in mail.outbox[1:]}
    assert len(subjects) == 1 and mail.outbox[0].subject not in subjects


@pytest.mark.django_db(transaction=True)
def test_a_denied_domain_gets_a_clear_refusal_and_nothing_is_recorded(eager_mail, settings):
    settings.EMAIL_DOMAINS_DENIED = ["catchall.example"]
    poll = make_poll()
    set_email_registration(poll.id, True)
    response = register(poll, "someone@catchall.example")
    assert response.status_code == 400
    assert "Codes are not sent to addresses at this domain" in response.content.decode()
    assert EmailRegistration.objects.count() == 0 and mail.outbox == []


@pytest.mark.django_db(transaction=True)
def test_each_domain_has_a_budget_and_large_providers_a_larger_one(eager_mail, settings):
    """Past its budget a domain is slowed and counted (referendum_over_budget_total), never refused
    (tests/test_email_mailboxes.py: a flood leaves a fresh voter able to register)."""
    settings.EMAIL_RATE_PER_DOMAIN = "3/d"
    settings.EMAIL_RATE_PER_LARGE_DOMAIN = "100/d"
    over = metrics.OVER_BUDGET.labels("email_domain")
    before = over._value.get()
    poll = make_poll()
    set_email_registration(poll.id, True)
    statuses = [register(poll, f"voter{i}@catchall.example").status_code for i in range(5)]
    assert statuses == [200] * 5
    assert EmailRegistration.objects.filter(poll=poll).count() == 5
    assert over._value.get() - before == 2
    # Other domains are not affected; a large provider takes far more.
    assert [register(poll, f"voter{i}@gmail.com").status_code for i in range(5)] == [200] * 5
    assert register(poll, "voter@other.example").status_code == 200
    assert over._value.get() - before == 2
