from django.apps import AppConfig


class TallyingConfig(AppConfig):
    name = "tallying"
    default_auto_field = "django.db.models.BigAutoField"
