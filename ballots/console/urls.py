from django.urls import path

from . import batches, views

urlpatterns = [
    path("", views.console_home, name="console-home"),
    path("polls/new", views.poll_new, name="console-poll-new"),
    path("polls/<int:poll_id>/", views.poll_overview, name="console-poll"),
    path("polls/<int:poll_id>/edit", views.poll_edit, name="console-poll-edit"),
    *[
        path(f"polls/<int:poll_id>/{action}", views.poll_action, {"action": action}, name=f"console-poll-{action}")
        for action, _label in views.ACTION_LABELS
    ],
    path("polls/<int:poll_id>/batches/", batches.batch_list, name="console-batches"),
    path("polls/<int:poll_id>/batches/<int:batch_id>/", batches.batch_detail, name="console-batch"),
    path(
        "polls/<int:poll_id>/batches/<int:batch_id>/download",
        batches.batch_download,
        name="console-batch-download",
    ),
    path(
        "polls/<int:poll_id>/batches/<int:batch_id>/revoke", batches.batch_revoke, name="console-batch-revoke"
    ),
    path(
        "polls/<int:poll_id>/email-registration",
        batches.email_registration,
        name="console-email-registration",
    ),
]
