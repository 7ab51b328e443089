"""E-mail eligibility counts mailboxes, not strings: a denied domain is denied at every depth of
subdomain, a provider's alias domains give one mailbox one code, and a flood of registrations at one
domain slows that domain (and raises the metric) without closing it to a fresh voter."""

import pytest
from django.core import mail
from django.test import Client

from ballots import mailboxes, registration
from ballots.models import EmailRegistration
from ballots.services import set_email_registration
from referendum import metrics
from referendum.celery import app
from tests.factories import make_poll
from tests.test_email_registration import CODE_RE


@pytest.fixture
def eager_mail(settings):
    """The worker's own code run in the request, into a local outbox; no per-mailbox limit in the way."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.EMAIL_CODE_MAX_DELAY_SECONDS = 0
    settings.EMAIL_RATE_PER_ADDRESS = "1000/d"
    mail.outbox = []
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield settings
    app.conf.task_always_eager = eager


@pytest.fixture
def poll(db):
    poll = make_poll()
    set_email_registration(poll.id, True)
    return poll


def register(poll, address):
    return Client().post(f"/polls/{poll.id}/register", {"email": address})


def codes_mailed():
    return [code for message in mail.outbox for code in CODE_RE.findall(message.body)]


@pytest.mark.django_db(transaction=True)
def test_addresses_at_any_depth_under_a_denied_domain_are_refused(eager_mail, poll):
    eager_mail.EMAIL_DOMAINS_DENIED = ["evil.test"]
    for depth in range(25):
        subdomain = "".join(f"n{level}." for level in range(depth))
        response = register(poll, f"v@{subdomain}evil.test")
        assert response.status_code == 400, subdomain
        assert "Codes are not sent to addresses at this domain" in response.content.decode()
    assert register(poll, "V@N3.Evil.Test.").status_code == 400
    assert EmailRegistration.objects.count() == 0 and mail.outbox == []
    # A domain that merely ends in the same letters is another domain.
    assert register(poll, "v@notevil.test").status_code == 200
    assert len(codes_mailed()) == 1


def test_allow_list_takes_subdomains_and_aliases(settings):
    settings.EMAIL_DOMAINS_DENIED = []
    settings.EMAIL_DOMAINS_ALLOWED = ["university.example", "ya.ru"]
    for address in ("a@university.example", "a@mail.university.example", "a@yandex.com", "a@narod.ru"):
        registration.check_domain(registration.normalize_address(address))
    for address in ("a@university.example.evil.test", "a@mail.ru", "a@gmail.com"):
        with pytest.raises(registration.DomainNotAccepted):
            registration.check_domain(registration.normalize_address(address))


def test_a_denied_alias_denies_its_whole_group(settings):
    settings.EMAIL_DOMAINS_DENIED = ["pm.me"]
    for address in ("x@proton.me", "x@protonmail.com", "x@protonmail.ch", "x@pm.me"):
        with pytest.raises(registration.DomainNotAccepted):
            registration.check_domain(registration.normalize_address(address))
    registration.check_domain(registration.normalize_address("x@gmail.com"))


# Each group: spellings of ONE mailbox, as the attack used them.
ONE_MAILBOX = {
    "yandex": ["ivan.petrov@yandex.ru", "ivan-petrov@ya.ru", "Ivan.Petrov@yandex.com", "ivan-petrov@yandex.by",
               "ivan.petrov@yandex.kz", "ivan-petrov+vote@yandex.ua", "ivan.petrov@narod.ru"],
    "proton": ["alice.user@proton.me", "aliceuser@protonmail.com", "alice_user@protonmail.ch", "alice-user@pm.me"],
    "icloud": ["anna@icloud.com", "anna@me.com", "Anna+x@mac.com"],
    "gmail": ["first.last@gmail.com", "firstlast+1@googlemail.com", "F.I.R.S.T.L.A.S.T@gmail.com"],
}


@pytest.mark.parametrize("group", sorted(ONE_MAILBOX))
def test_each_alias_spelling_normalizes_to_one_mailbox(group):
    assert len({registration.normalize_address(a) for a in ONE_MAILBOX[group]}) == 1


def test_every_same_mailbox_group_has_a_test_and_no_domain_is_listed_twice():
    same_mailbox = {p.name for p in mailboxes.PROVIDERS if p.same_mailbox}
    assert same_mailbox == set(ONE_MAILBOX)
    domains = [d for p in mailboxes.PROVIDERS for d in p.domains]
    assert len(domains) == len(set(domains))


def test_yandex_reads_dash_as_dot_but_keeps_dots():
    assert registration.normalize_address("a-b@yandex.ru") == registration.normalize_address("a.b@ya.ru")
    assert registration.normalize_address("ab@yandex.ru") != registration.normalize_address("a.b@yandex.ru")


@pytest.mark.django_db(transaction=True)
def test_each_alias_group_yields_one_code_per_mailbox(eager_mail, poll):
    for group, spellings in ONE_MAILBOX.items():
        before = len(codes_mailed())
        for spelling in spellings:
            assert register(poll, spelling).status_code == 200, spelling
        assert len(codes_mailed()) == before + 1, group
    assert EmailRegistration.objects.filter(poll=poll).count() == len(ONE_MAILBOX)
    # Every request got a mail: the later ones the "already sent" notice.
    assert len(mail.outbox) == sum(len(s) for s in ONE_MAILBOX.values())


@pytest.mark.django_db(transaction=True)
def test_one_company_with_separate_mailboxes_gives_each_its_code(eager_mail, poll):
    """Mail.ru's and Rambler's domains are separate name spaces: ivan@bk.ru is not ivan@mail.ru."""
    addresses = ["ivan@mail.ru", "ivan@bk.ru", "ivan@list.ru", "ivan@inbox.ru", "ivan@internet.ru",
                 "ivan@rambler.ru", "ivan@lenta.ru", "ivan@ro.ru", "ivan@autorambler.ru", "ivan@myrambler.ru"]
    for address in addresses:
        assert register(poll, address).status_code == 200
    assert len(codes_mailed()) == len(addresses)
    # …while they share the company's budget.
    assert {registration.budget_domain(registration.normalize_address(a)) for a in addresses[:5]} == {"mail.ru"}
    assert {registration.budget_domain(registration.normalize_address(a)) for a in addresses[5:]} == {"rambler.ru"}


def test_budget_counts_the_registrable_domain():
    for address, budget in [("v@n0.evil.test", "evil.test"), ("v@a.b.c.evil.test", "evil.test"),
                            ("v@x.mail.co.uk", "mail.co.uk"), ("v@Sub.Почта.РФ", "xn--80a1acny.xn--p1ai"),
                            ("v@ya.ru", "yandex.ru"), ("v@bk.ru", "mail.ru")]:
        assert registration.budget_domain(registration.normalize_address(address)) == budget, address


def over_budget_count():
    return metrics.OVER_BUDGET.labels("email_domain")._value.get()


@pytest.mark.django_db(transaction=True)
def test_a_flood_at_one_domain_leaves_a_fresh_address_able_to_register(eager_mail, poll):
    eager_mail.EMAIL_RATE_PER_DOMAIN = "10/d"
    before = over_budget_count()
    statuses = [register(poll, f"bot{i}@n{i}.flood.example").status_code for i in range(40)]
    assert statuses == [200] * 40
    # Thirty went over the domain's budget: counted for the alert, not refused.
    assert over_budget_count() - before == 30
    response = register(poll, "real.voter@flood.example")
    assert response.status_code == 200
    assert "real.voter@flood.example" in [to for m in mail.outbox for to in m.to]
    assert over_budget_count() - before == 31
    # Another domain is untouched by that budget.
    register(poll, "someone@other.example")
    assert over_budget_count() - before == 31


@pytest.mark.django_db(transaction=True)
def test_a_domain_denied_while_its_mails_wait_gets_no_code(eager_mail, poll):
    address = "late@busy.example"
    digest = registration.address_hash(poll.id, registration.normalize_address(address))
    EmailRegistration.objects.create(poll=poll, address_hash=digest)  # what request_code recorded
    token = registration.mail_token(poll.id, address, True, "https://vote.example/", "en").decode("ascii")
    eager_mail.EMAIL_DOMAINS_DENIED = ["busy.example"]
    registration.deliver(token, "first-task")
    assert mail.outbox == [] and not EmailRegistration.objects.filter(address_hash=digest).exists()
    eager_mail.EMAIL_DOMAINS_DENIED = []
    EmailRegistration.objects.create(poll=poll, address_hash=digest)
    registration.deliver(token, "second-task")
    assert len(codes_mailed()) == 1
