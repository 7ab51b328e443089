from django.contrib import admin
from django.urls import include, path

from . import views

handler400 = "referendum.views.bad_request"
handler404 = "referendum.views.not_found"
handler500 = "referendum.views.server_error"

urlpatterns = [
    path("", include("ballots.urls")),
    path("", include("tallying.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("api/v1/openapi.yaml", views.openapi, name="api-openapi"),
    path("console/", include("regions.urls")),
    path("console/", include("regions.console.urls")),
    path("console/", include("ballots.console_urls")),
    path("admin/", admin.site.urls),
]
