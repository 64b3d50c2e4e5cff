from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from common import accounts, preferences

urlpatterns = [
    path(settings.ADMIN_URL, admin.site.urls),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Forgotten passwords (common.accounts); the admin's sign-in page links here too.
    path("accounts/password-reset/", accounts.PasswordResetView.as_view(), name="password_reset"),
    path(
        "accounts/password-reset/",
        accounts.PasswordResetView.as_view(),
        name="admin_password_reset",
    ),
    path(
        "accounts/password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "accounts/reset/<uidb64>/<token>/",
        accounts.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "accounts/reset/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    # The reader's language and time zone (common.preferences). The language switcher posts to
    # Django's set_language, wrapped to save a signed-in person's choice as well.
    path("accounts/preferences/", preferences.preferences_edit, name="preferences"),
    path("i18n/setlang/", preferences.language_set, name="set_language"),
    path("api/", include("api.urls")),
    # The demo's help page: 404 unless demo mode is on (frontconnect.demo_settings).
    path("demo/", include("demo.urls")),
    path("teams/", include("teams.urls")),
    path("", include("connections.urls")),
    # The scopes selector (FilteredSelectMultiple) reads its texts from this catalog.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("", RedirectView.as_view(pattern_name="connections:list"), name="home"),
]

# Errors under /api/ answer in the API's JSON shape; every other page keeps Django's.
handler404 = "api.errors.page_not_found"
handler500 = "api.errors.server_error"
