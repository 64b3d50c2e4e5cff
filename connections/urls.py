from __future__ import annotations

from django.urls import path

from connections import views_actions, views_pages

app_name = "connections"

urlpatterns = [
    path("", views_pages.connection_list, name="list"),
    path("new/", views_pages.connection_new, name="new"),
    path("<int:pk>/", views_pages.connection_detail, name="detail"),
    path("<int:pk>/edit/", views_pages.connection_edit, name="edit"),
    path("<int:pk>/delete/", views_pages.connection_confirm_delete, name="delete"),
    path("<int:pk>/test/", views_actions.test, name="test"),
    path("<int:pk>/authorize/", views_actions.authorize, name="authorize"),
    path("<int:pk>/disconnect/", views_actions.disconnect, name="disconnect"),
]
