from django.apps import AppConfig


class BallotsConfig(AppConfig):
    name = "ballots"
    default_auto_field = "django.db.models.BigAutoField"
