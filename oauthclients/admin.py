from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters

from common.admin import FrontConnectAdmin
from common.crypto import secret_state
from common.dates import moment_text
from common.http import admin_user
from common.oauth import oauth_redirect_uri
from oauthclients.forms import OAuthClientForm
from oauthclients.models import OAuthClient

if TYPE_CHECKING:
    # A dev-only package: the annotation below is never evaluated at runtime.
    from django_stubs_ext import WithAnnotations


class ConnectionTotal(TypedDict):
    connection_total: int


sensitive_client_secret = method_decorator(sensitive_post_parameters("client_secret"))


@admin.register(OAuthClient)
class OAuthClientAdmin(FrontConnectAdmin):
    form = OAuthClientForm
    list_display = ["name", "client_id", "connection_count", "updated_at"]
    search_fields = ["name", "client_id"]
    readonly_fields = ["redirect_url", "secret_status", "used_by"]
    fieldsets = [
        (None, {"fields": ["name", "client_id", "client_secret", "secret_status"]}),
        (_("In Front"), {"fields": ["redirect_url"]}),
        (_("Connections"), {"fields": ["used_by"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[OAuthClient]:
        return super().get_queryset(request).annotate(connection_total=Count("connections"))

    @admin.display(description=_("Connections"), ordering="connection_total")
    def connection_count(self, obj: WithAnnotations[OAuthClient, ConnectionTotal]) -> int:
        return obj.connection_total

    @admin.display(description=_("Redirect URL"))
    def redirect_url(self, obj: OAuthClient | None) -> str:
        return format_html(
            "<code>{}</code><br>{}",
            oauth_redirect_uri(),
            gettext(
                "Enter this URL exactly in the Front app's OAuth settings (Settings > Company > "
                "Developers > your app > Features > OAuth > Redirect URLs)."
            ),
        )

    @admin.display(description=_("Client secret status"))
    def secret_status(self, obj: OAuthClient | None) -> str:
        if obj is None or obj.pk is None:
            return secret_state("")
        if not obj.client_secret or obj.secret_changed_at is None:
            return secret_state(obj.client_secret)
        when = moment_text(obj.secret_changed_at)
        if obj.secret_changed_by_id:
            return gettext("Set, last changed %(when)s by %(user)s") % {
                "when": when,
                "user": obj.secret_changed_by,
            }
        return gettext("Set, last changed %(when)s") % {"when": when}

    @admin.display(description=_("Used by"))
    def used_by(self, obj: OAuthClient | None) -> str:
        if obj is None or obj.pk is None:
            return gettext("No connection yet.")
        rows = obj.connections.select_related("owner").order_by("name")[:50]
        if not rows:
            return gettext("No connection yet.")
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{} ({})</li>", ((c.name, c.owner) for c in rows)),
        )

    @sensitive_client_secret
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().changeform_view(request, *args, **kwargs)

    def save_model(self, request: HttpRequest, obj: OAuthClient, form: Any, change: bool) -> None:
        if form.cleaned_data.get("client_secret"):
            obj.secret_changed_by = admin_user(request)
        super().save_model(request, obj, form, change)
