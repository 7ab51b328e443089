"""Read paths for the console's region and account pages."""

from django.db.models import Count, Exists, OuterRef
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import EnrolmentLink, Organizer, Region


def regions_with_counts():
    """Every region with how many organizers are assigned to it (one grouped query)."""
    # In display order: an aggregate drops Meta.ordering (Django leaves GROUP BY queries unordered).
    return Region.objects.annotate(organizer_count=Count("organizers")).order_by("ordering", "slug")


def organizer_accounts():
    """Every organizer account with its regions, whether a second factor is enrolled and whether
    a one-time link is waiting to be used; active accounts first."""
    return (
        Organizer.objects.select_related("user")
        .prefetch_related("regions")
        .annotate(
            enrolled=Exists(TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True)),
            link_waiting=Exists(
                EnrolmentLink.objects.filter(
                    organizer=OuterRef("pk"), used_at__isnull=True, expires_at__gt=timezone.now()
                )
            ),
        )
        .order_by("-user__is_active", "user__username")
    )
