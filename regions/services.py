from django.db import transaction

from .models import Region

# The five regions of the referendum, in display order.
REGIONS = [
    ("siberia", "Siberia", "Сибирь"),
    ("urals", "Urals", "Урал"),
    ("kaliningrad", "Kaliningrad", "Калининград"),
    ("krasnodar", "Krasnodar", "Краснодар"),
    ("ingria", "Ingria", "Ингрия"),
]


@transaction.atomic
def seed_regions():
    """Create or update the five regions; running it again changes nothing."""
    regions = []
    for ordering, (slug, name_en, name_ru) in enumerate(REGIONS):
        region, _ = Region.objects.update_or_create(
            slug=slug, defaults={"name_en": name_en, "name_ru": name_ru, "ordering": ordering}
        )
        regions.append(region)
    return regions
