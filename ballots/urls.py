from django.urls import path

from . import registration_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("polls/<int:poll_id>/", views.vote, name="vote"),
    path("polls/<int:poll_id>/cast", views.cast, name="cast"),
    path("polls/<int:poll_id>/register", registration_views.register, name="register"),
    path("audit/", views.audit, name="audit"),
    path("api/v1/audit", views.api_audit, name="api-audit"),
    path("api/v1/polls", views.api_polls, name="api-polls"),
    path("api/v1/polls/<int:poll_id>/ballots", views.api_cast, name="api-cast"),
]
