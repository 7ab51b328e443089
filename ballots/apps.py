from django.apps import AppConfig


class BallotsConfig(AppConfig):
    name = "ballots"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from regions.signals import organizer_action

        from .services import record_organizer_action

        organizer_action.connect(record_organizer_action, dispatch_uid="ballots.audit.organizer_action")
