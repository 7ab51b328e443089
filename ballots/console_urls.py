from django.urls import path

from . import console_batches, console_views

urlpatterns = [
    path("", console_views.console_home, name="console-home"),
    path("polls/new", console_views.poll_new, name="console-poll-new"),
    path("polls/<int:poll_id>/", console_views.poll_overview, name="console-poll"),
    path("polls/<int:poll_id>/edit", console_views.poll_edit, name="console-poll-edit"),
    *[
        path(f"polls/<int:poll_id>/{action}", console_views.poll_action, {"action": action}, name=f"console-poll-{action}")
        for action, _label in console_views.ACTION_LABELS
    ],
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
