from django.urls import path

from . import console_batches, console_views

urlpatterns = [
    path("", console_views.console_home, name="console-home"),
    path("polls/<int:poll_id>/batches/", console_batches.batch_list, name="console-batches"),
    path("polls/<int:poll_id>/batches/<int:batch_id>/", console_batches.batch_detail, name="console-batch"),
    path(
        "polls/<int:poll_id>/batches/<int:batch_id>/download",
        console_batches.batch_download,
        name="console-batch-download",
    ),
    path(
        "polls/<int:poll_id>/batches/<int:batch_id>/revoke", console_batches.batch_revoke, name="console-batch-revoke"
    ),
    path(
        "polls/<int:poll_id>/email-registration",
        console_batches.email_registration,
        name="console-email-registration",
    ),
]
