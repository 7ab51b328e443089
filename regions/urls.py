from django.urls import path

from . import views

urlpatterns = [
    path("login", views.console_login, name="console-login"),
    path("verify", views.console_verify, name="console-verify"),
    path("enroll", views.console_enroll, name="console-enroll"),
    path("logout", views.console_logout, name="console-logout"),
]
