from django import template
from django.utils.translation import gettext_lazy as _

register = template.Library()

ROLES = {"coordinator": _("coordinator"), "regional": _("regional organizer"), "operator": _("operator")}


@register.filter
def role_label(role):
    """An audit entry's role in the reader's language (stored in English, as published in the API)."""
    return ROLES.get(role, role)
