"""Which e-mail addresses are one mailbox, and which domains belong to one provider: data, in one place.

Two kinds of group, and the difference matters:

- **One mailbox under several domains** (`same_mailbox=True`): the provider delivers `name@` at
  every domain of the group to one inbox (Yandex, Proton, iCloud, Gmail). Such addresses fold to
  the group's first domain, so the mailbox gets one code, and a deny or allow entry naming any
  domain of the group names them all.
- **One company, separate mailboxes** (`same_mailbox=False`): the domains are separate name spaces
  (Mail.ru's registration offers `ivan@bk.ru` to a second person when `ivan@mail.ru` is taken; the
  same for Rambler's, Microsoft's and Yahoo's domains). Folding them would refuse a code to a real
  second voter, silently (they would get the "already sent" mail). They share only the company's
  registration budget (`budget_domain`), which counts how busy a provider is, never who is who.

`ignored` are characters the provider drops from a login (Gmail's dots; Proton's dots, hyphens
and underscores); `equivalent` maps characters the provider reads as another (Yandex: `-` is `.`).
A `+tag` is removed at every domain (ballots/registration.py), so it is not listed here.

Sources: each provider's help pages on addresses and aliases; tests/test_email_mailboxes.py shows
every group yields one code per mailbox.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Provider:
    name: str
    domains: tuple  # the first one is the group's canonical domain
    same_mailbox: bool
    ignored: str = ""
    equivalent: dict = field(default_factory=dict)

    @property
    def canonical(self):
        return self.domains[0]

    def login(self, local):
        """A login as the provider reads it (lower case already)."""
        for char in self.ignored:
            local = local.replace(char, "")
        for char, same in self.equivalent.items():
            local = local.replace(char, same)
        return local


PROVIDERS = (
    Provider("gmail", ("gmail.com", "googlemail.com"), same_mailbox=True, ignored="."),
    Provider(
        "yandex",
        ("yandex.ru", "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua", "yandex.uz",
         "yandex.com.tr", "narod.ru"),
        same_mailbox=True,
        equivalent={"-": "."},
    ),
    Provider("proton", ("proton.me", "protonmail.com", "protonmail.ch", "pm.me"), same_mailbox=True,
             ignored=".-_"),
    Provider("icloud", ("icloud.com", "me.com", "mac.com"), same_mailbox=True),
    Provider("mailru", ("mail.ru", "inbox.ru", "list.ru", "bk.ru", "internet.ru", "xmail.ru", "mail.ua"),
             same_mailbox=False),
    Provider("rambler", ("rambler.ru", "lenta.ru", "autorambler.ru", "myrambler.ru", "ro.ru", "rambler.ua"),
             same_mailbox=False),
    Provider("microsoft", ("outlook.com", "hotmail.com", "live.com", "msn.com", "outlook.ru", "hotmail.ru",
                           "live.ru"), same_mailbox=False),
    Provider("yahoo", ("yahoo.com", "ymail.com", "rocketmail.com"), same_mailbox=False),
    Provider("tuta", ("tuta.com", "tutanota.com", "tutanota.de", "tutamail.com", "tuta.io", "keemail.me"),
             same_mailbox=False),
)

BY_DOMAIN = {domain: provider for provider in PROVIDERS for domain in provider.domains}
if len(BY_DOMAIN) != sum(len(provider.domains) for provider in PROVIDERS):
    raise ValueError("A domain is listed under two providers.")


def provider_of(domain):
    return BY_DOMAIN.get(domain)
