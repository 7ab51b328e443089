from django.contrib import admin
from django.urls import include, path

from . import views

handler404 = "referendum.views.not_found"
handler500 = "referendum.views.server_error"

urlpatterns = [
    path("", include("ballots.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
