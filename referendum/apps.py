from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReferendumConfig(AppConfig):
    """The project package as an app: database grants after migrate, production checks."""

    name = "referendum"
    verbose_name = "Referendum"

    def ready(self):
        from . import checks, database_roles  # noqa: F401  (checks register themselves)

        post_migrate.connect(database_roles.after_migrate, sender=self)
