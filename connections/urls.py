"""Every URL of the connections app; frontconnect/urls.py mounts them at the site root."""

from __future__ import annotations

from django.urls import include, path

from common.oauth import CALLBACK_PATH
from connections.views import actions, health, links, metrics, oauth, pages

member_patterns = [
    path("", pages.connection_list, name="list"),
    path("new/", pages.connection_new, name="new"),
    path("<int:pk>/", pages.connection_detail, name="detail"),
    path("<int:pk>/edit/", pages.connection_edit, name="edit"),
    path("<int:pk>/delete/", pages.connection_confirm_delete, name="delete"),
    path("<int:pk>/move/", pages.connection_move_page, name="move"),
    path("<int:pk>/test/", actions.test, name="test"),
    path("<int:pk>/authorize/", actions.authorize, name="authorize"),
    path("<int:pk>/disconnect/", actions.disconnect, name="disconnect"),
    path(
        "<int:pk>/disconnect/confirm/",
        actions.disconnect_confirm,
        name="disconnect_confirm",
    ),
    path("<int:pk>/links/", links.link_create, name="link-create"),
    path("<int:pk>/links/created/", links.link_created, name="link-created"),
    path("<int:pk>/links/<int:link_pk>/revoke/", links.link_revoke, name="link-revoke"),
]

link_patterns = [
    path("result/", links.link_result, name="result"),
    path("<str:secret>/", links.link_open, name="open"),
]

oauth_patterns = [path("", oauth.callback, name="callback")]

urlpatterns = [
    path("connections/", include((member_patterns, "connections"))),
    path(CALLBACK_PATH, include((oauth_patterns, "oauth"))),
    path("authorization-links/", include((link_patterns, "links"))),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", metrics.metrics, name="metrics"),
]
