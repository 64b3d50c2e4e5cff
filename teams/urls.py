"""The self-service team pages; frontconnect/urls.py mounts them at /teams/."""

from __future__ import annotations

from django.urls import path

from teams import views

app_name = "teams"

urlpatterns = [
    path("", views.team_list, name="list"),
    path("<int:pk>/", views.team_detail, name="detail"),
    path("<int:pk>/members/", views.member_add, name="member_add"),
    path("<int:pk>/members/<int:member_pk>/role/", views.member_role, name="member_role"),
    path("<int:pk>/members/<int:member_pk>/remove/", views.member_remove, name="member_remove"),
    path("<int:pk>/alerts/", views.alerts_set, name="alerts"),
    path("<int:pk>/keys/", views.key_new, name="key_new"),
    path("<int:pk>/keys/<int:key_pk>/created/", views.key_created, name="key_created"),
    path("<int:pk>/keys/<int:key_pk>/revoke/", views.key_revoke, name="key_revoke"),
]
