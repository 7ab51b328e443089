"""Wording that does not mislead (docs/glossary.md), in both languages: the receipt says received,
roles appear in the reader's language, the wrong-region refusal names the region, the audit page
shows batch sizes and new closing times, the console lists regions in their order."""

from datetime import timedelta

from django.test import Client

from ballots import services
from regions.models import Region
from regions.queries import regions_with_counts
from tests.factories import make_codes, make_poll, make_region


def test_the_receipt_says_received_not_counted(db):
    poll = make_poll()
    (code,) = make_codes(poll)
    receipt = Client(HTTP_ACCEPT_LANGUAGE="ru").post(
        f"/polls/{poll.id}/cast", {"code": code, "option": poll.options.first().id}
    ).content.decode()
    assert "Ваш бюллетень получен" in receipt and "учтён" not in receipt
    assert "код квитанции" not in receipt and "Номер вашей квитанции" in receipt


def test_the_audit_page_shows_roles_in_russian_batch_sizes_and_new_closing_times(db):
    poll = make_poll()
    Region.objects.filter(pk=poll.region_id).update(time_zone="Asia/Novosibirsk")
    services.issue_codes(poll, 7)
    later = (poll.closes_at + timedelta(days=2)).replace(microsecond=0)
    services.extend_poll(poll.id, later)
    page = Client(HTTP_ACCEPT_LANGUAGE="ru").get("/audit/").content.decode()
    assert "(оператор)" in page and "(operator)" not in page
    assert "7 кодов" in page
    assert "новое время окончания:" in page and f'datetime="{later.isoformat()}"' in page and "(UTC+7)" in page


def test_the_wrong_region_refusal_names_the_region_in_russian(db):
    siberia = make_poll()
    urals = make_poll(region=make_region("urals", "Urals", "Урал"))
    (code,) = make_codes(urals)
    page = Client(HTTP_ACCEPT_LANGUAGE="ru").post(
        f"/polls/{siberia.id}/", {"code": code, "option": siberia.options.first().id}
    ).content.decode()
    assert "для референдума в другом регионе: «Урал»" in page


def test_console_regions_come_in_their_order(db):
    for ordering, slug in enumerate(["zeta", "alpha", "mid"]):
        Region.objects.create(slug=slug, name_en=slug, name_ru=slug, ordering=10 + ordering)
    assert [r.slug for r in regions_with_counts() if r.ordering >= 10] == ["zeta", "alpha", "mid"]


