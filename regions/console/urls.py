from django.urls import path

from . import views

urlpatterns = [
    path("regions/", views.regions, name="console-regions"),
    path("accounts/", views.accounts, name="console-accounts"),
    path("accounts/new", views.account_new, name="console-account-new"),
    path("accounts/reset", views.account_reset, name="console-account-reset"),
    path("accounts/deactivate", views.account_deactivate, name="console-account-deactivate"),
    path("welcome", views.welcome, name="console-welcome"),
]
