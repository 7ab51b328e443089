"""The Django admin, tamed: organizer sign-in is the only way in, and it only looks.

Every change to polls, answers, ballots, the ledger, the audit log and snapshots goes through the
services, which write the public audit log; the admin bypasses them, so for these models it has no
add, change or delete. It has no login page of its own: /admin/login/ sends people to the console's
sign-in (password, then TOTP; rate-limited per user name and session; see regions/views.py).
TOTP secrets are never shown: django-otp's device admin is replaced by one without the key.
"""

from django.contrib import admin
from django.shortcuts import redirect
from django.utils.http import urlencode
from django_otp.admin import OTPAdminSite
from django_otp.plugins.otp_totp.models import TOTPDevice


class ConsoleSignInAdminSite(OTPAdminSite):
    """Staff accounts that passed the console's password and TOTP steps in this session."""

    def login(self, request, extra_context=None):
        return redirect("/console/login?" + urlencode({"next": request.GET.get("next") or "/admin/"}))

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_staff and user.is_verified()


class ReadOnlyMixin:
    """Nothing can be added, changed or deleted here (lists and detail pages stay)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    pass


class ReadOnlyInline(ReadOnlyMixin, admin.TabularInline):
    extra = 0
    can_delete = False


class TOTPDeviceAdmin(ReadOnlyAdmin):
    """Which organizer has which device; never its key (no field, no QR code page)."""

    list_display = ["user", "name", "confirmed"]
    fields = ["user", "name", "confirmed"]
    readonly_fields = fields


admin.site.__class__ = ConsoleSignInAdminSite
if admin.site.is_registered(TOTPDevice):
    admin.site.unregister(TOTPDevice)
admin.site.register(TOTPDevice, TOTPDeviceAdmin)
