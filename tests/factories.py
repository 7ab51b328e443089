"""Plain factories: each test builds what it needs through the real services."""

from datetime import timedelta

from django.utils import timezone

from ballots.models import Option, Poll
from ballots.services import issue_codes
from regions.models import Region


def make_region(slug="siberia", name_en="Siberia", name_ru="Сибирь"):
    region, _ = Region.objects.get_or_create(slug=slug, defaults={"name_en": name_en, "name_ru": name_ru})
    return region


def make_poll(region=None, state=Poll.State.OPEN, opens_in=timedelta(minutes=-5), closes_in=timedelta(days=30),
              answers=(("Yes", "Да"), ("No", "Нет"))):
    now = timezone.now()
    poll = Poll.objects.create(
        region=region or make_region(),
        question_en="Do you support the independence of Siberia?",
        question_ru="Поддерживаете ли вы независимость Сибири?",
        opens_at=now + opens_in,
        closes_at=now + closes_in,
        state=Poll.State.DRAFT,
    )
    for ordering, (en, ru) in enumerate(answers):
        Option.objects.create(poll=poll, label_en=en, label_ru=ru, ordering=ordering)
    if state != Poll.State.DRAFT:  # answers can be added only to a draft (a database trigger)
        poll.state = state
        poll.save(update_fields=["state"])
    return poll


def make_codes(poll, count=1):
    _, issued = issue_codes(poll, count)
    return issued
