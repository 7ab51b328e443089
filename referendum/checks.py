"""System checks for a production deployment (`manage.py check --deploy [--database default]`)."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


@register(Tags.security, deploy=True)
def app_role_configured(app_configs, **kwargs):
    if settings.DEBUG or settings.EMBEDDED_DATABASE or settings.DATABASE_APP_ROLE:
        return []
    return [
        Warning(
            "DATABASE_APP_ROLE is not set, so migrations grant no least-privileged role its rights "
            "and the application probably connects as the database owner.",
            hint="Run the app as a role without DDL or TRUNCATE (docs/security.md, 'Database roles').",
            id="referendum.W001",
        )
    ]


@register(Tags.security, deploy=True)
def https_redirect_on(app_configs, **kwargs):
    """Django's security.W008, for our HttpsRedirectMiddleware (which exempts the onion service)."""
    if settings.HTTPS_REDIRECT:
        return []
    return [
        Warning(
            "HTTPS_REDIRECT (SECURE_SSL_REDIRECT=0) is off: plain HTTP requests are served as they are.",
            hint="Keep SECURE_SSL_REDIRECT=1 unless the proxy already redirects every plain request.",
            id="referendum.W008",
        )
    ]


@register(Tags.database, deploy=True)
def app_connects_as_app_role(app_configs, databases=None, **kwargs):
    """With --deploy --database default: the connection is neither a superuser nor the owner of the audit log."""
    from django.db import connections

    errors = []
    for alias in databases or []:
        connection = connections[alias]
        if connection.vendor != "postgresql" or not settings.DATABASE_APP_ROLE:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),"
                " (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'ballots_auditentry')"
            )
            user, superuser, audit_owner = cursor.fetchone()
        if superuser or user == audit_owner or user != settings.DATABASE_APP_ROLE:
            errors.append(
                Error(
                    f"The application connects to PostgreSQL as {user!r}, not as DATABASE_APP_ROLE "
                    f"{settings.DATABASE_APP_ROLE!r} without DDL rights.",
                    hint="DATABASE_URL must name the app role; only migrations run as the owner.",
                    id="referendum.E001",
                )
            )
    return errors
