from django.urls import path

from . import views

urlpatterns = [
    path("json", views.minimal_json),
    path("bare-cast/<int:poll_id>", views.bare_cast),
]
