from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

admin.site.site_header = "FrontConnect"
admin.site.site_title = "FrontConnect"
admin.site.index_title = "Connections to Front"

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include("api.urls")),
    path("teams/", include("teams.urls")),
    path("", include("connections.urls")),
    # The scopes selector (FilteredSelectMultiple) reads its texts from this catalog.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", RedirectView.as_view(pattern_name="connections:list"), name="home"),
]

# Errors under /api/ answer in the API's JSON shape; every other page keeps Django's.
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"
