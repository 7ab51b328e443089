from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.i18n import set_language

from . import views

handler400 = "referendum.views.bad_request"
handler404 = "referendum.views.not_found"
handler500 = "referendum.views.server_error"

urlpatterns = [
    path("", include("ballots.urls")),
    path("", include("tallying.urls")),
    # The language switch on every page carries no CSRF token: all a forged request could do is
    # switch someone's interface language, and without a token the public pages set no cookie
    # and are the same for every visitor (cached whole, tallying/responses.py).
    path("i18n/setlang/", csrf_exempt(set_language), name="set_language"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    path("api/v1/openapi.yaml", views.openapi, name="api-openapi"),
    # Browsers ask for /favicon.ico whatever the page links: answer it instead of a 404 per visit.
    path("favicon.ico", lambda request: redirect(static("favicon.ico"), permanent=True)),
    path("console/", include("regions.urls")),
    path("console/", include("regions.console.urls")),
    path("console/", include("ballots.console.urls")),
    path("admin/", admin.site.urls),
]
