from django.urls import path

from . import console_views

urlpatterns = [
    path("", console_views.console_home, name="console-home"),
]
