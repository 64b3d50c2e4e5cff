from __future__ import annotations

from django.urls import path

from connections import oauth_views

app_name = "oauth"

urlpatterns = [
    path("callback/", oauth_views.callback, name="callback"),
]
