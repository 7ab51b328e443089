import secrets

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Region(models.Model):
    slug = models.SlugField(_("slug"), max_length=40, unique=True)
    name_en = models.CharField(_("name in English"), max_length=100)
    name_ru = models.CharField(_("name in Russian"), max_length=100)
    ordering = models.PositiveSmallIntegerField(_("display order"), default=0)
    # Where the region's voters live: pages show times in it, next to UTC (an IANA name).
    time_zone = models.CharField(_("time zone"), max_length=64, default="Europe/Moscow")

    class Meta:
        ordering = ["ordering", "slug"]
        verbose_name = _("region")
        verbose_name_plural = _("regions")

    def __str__(self):
        return self.name

    @property
    def name(self):
        return self.name_ru if (get_language() or "en").startswith("ru") else self.name_en


def new_pseudonym():
    return "org-" + secrets.token_hex(4)


class Organizer(models.Model):
    """An organizer account's role. The public audit log names only the pseudonym."""

    class Role(models.TextChoices):
        COORDINATOR = "coordinator", _("coordinator")
        REGIONAL = "regional", _("regional organizer")

    user = models.OneToOneField("auth.User", on_delete=models.CASCADE, related_name="organizer")
    role = models.CharField(_("role"), max_length=12, choices=Role.choices, default=Role.REGIONAL)
    regions = models.ManyToManyField(Region, blank=True, related_name="organizers")
    pseudonym = models.CharField(max_length=20, unique=True, default=new_pseudonym, editable=False)

    class Meta:
        verbose_name = _("organizer")
        verbose_name_plural = _("organizers")

    def __str__(self):
        return f"{self.pseudonym} ({self.role})"

    def can_manage_region(self, region_id):
        if self.role == self.Role.COORDINATOR:
            return True
        return self.regions.filter(pk=region_id).exists()

    def managed_regions(self):
        if self.role == self.Role.COORDINATOR:
            return Region.objects.all()
        return self.regions.all()


class EnrolmentLink(models.Model):
    """A one-time link with which an organizer sets a password and enrolls a TOTP device.

    Only the SHA-256 of the link's random token is stored: a copy of the database cannot be used
    to take over an account that is waiting for its organizer. Used once, then dead; expires.
    """

    organizer = models.ForeignKey(Organizer, on_delete=models.CASCADE, related_name="enrolment_links")
    token_hash = models.BinaryField(max_length=32, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(expires_at__gt=models.F("created_at")), name="enrolmentlink_expires_later"),
        ]

    def __str__(self):
        return f"enrolment link of {self.organizer.pseudonym}"
