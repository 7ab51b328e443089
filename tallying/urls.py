from django.urls import path

from . import api, views

urlpatterns = [
    path("results/", views.results, name="results"),
    path("results/preview-<str:lang>.png", views.results_preview, name="results-preview"),
    path("results/<slug:slug>/preview-<str:lang>.png", views.region_preview, name="region-preview"),
    path("results/<slug:slug>/", views.region_results, name="region-results"),
    path("api/v1/polls/<int:poll_id>", api.poll_detail, name="api-poll"),
    path("api/v1/polls/<int:poll_id>/tally", api.poll_tally, name="api-tally"),
    path("api/v1/polls/<int:poll_id>/snapshots", api.poll_snapshots, name="api-snapshots"),
    path("api/v1/polls/<int:poll_id>/export", api.poll_export, name="api-export"),
    path("api/v1/public-key", api.public_key, name="api-public-key"),
    path("api/v1/polls/<int:poll_id>/ledger", api.poll_ledger, name="api-ledger"),
    path("ledger/<int:poll_id>/", views.ledger, name="ledger"),
    path("verify/", views.verify_receipt, name="verify-receipt"),
    path("console/polls/<int:poll_id>/publish", views.console_publish, name="console-poll-publish"),
]
