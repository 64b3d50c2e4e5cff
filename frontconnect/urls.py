from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from connections.views import healthz

admin.site.site_header = "FrontConnect"
admin.site.site_title = "FrontConnect"
admin.site.index_title = "Connections to Front"

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("oauth/", include("connections.oauth_urls")),
]
