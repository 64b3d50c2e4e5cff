from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import URLPattern, path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from common.crypto import SecretState, secret_state
from common.http import admin_user
from connections import authorization, services
from connections.forms import ConnectionAdminForm, form_for_actor
from connections.models import AuthType, Connection, Event, Scope, Source, Status

STATUS_COLOURS: dict[str, str] = {
    Status.ONLINE: "#1a7f37",
    Status.OFFLINE: "#b42318",
    Status.REAUTHORIZE: "#b54708",
    Status.NOT_AUTHORIZED: "#475467",
}

sensitive_secrets = method_decorator(sensitive_post_parameters("api_token"))


def status_badge(connection: Connection) -> str:
    return format_html(
        '<span class="fc-status fc-status-{}" style="color:{};font-weight:600">{}</span>',
        connection.status,
        STATUS_COLOURS.get(connection.status, "#475467"),
        connection.get_status_display(),
    )


EVENT_FIELDS = ("created_at", "action", "source", "actor", "success", "message", "changed_fields")


class EventInline(admin.TabularInline):
    model = Event
    fields = EVENT_FIELDS
    readonly_fields = EVENT_FIELDS
    extra = 0
    can_delete = False
    show_change_link = False
    verbose_name_plural = "History"
    ordering = ["-created_at", "-pk"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return super().get_queryset(request).select_related("actor")

    @admin.display(description="Changed fields")
    def changed_fields(self, obj: Event) -> str:
        return ", ".join(obj.fields) or "-"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    form = ConnectionAdminForm
    list_display = [
        "name_display",
        "company_name",
        "auth_type",
        "status_display",
        "owner",
        "updated_at",
    ]
    list_display_links = ["name_display"]
    list_filter = ["auth_type", "status", "oauth_client"]
    list_select_related = ["owner"]
    search_fields = ["name", "company_name"]
    autocomplete_fields = ["owner"]
    readonly_fields = [
        "status_display",
        "front_company",
        "api_token_status",
        "oauth_token_status",
        "last_checked_at",
        "last_check_result",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "company_name",
                    "auth_type",
                    "api_token",
                    "oauth_client",
                    "scopes",
                    "owner",
                ]
            },
        ),
        (
            "Front",
            {
                "fields": [
                    "status_display",
                    "front_company",
                    "api_token_status",
                    "oauth_token_status",
                    "last_checked_at",
                    "last_check_result",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    inlines = [EventInline]
    actions = ["test_connections"]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        # The blank-token policy depends on who edits (connections.rules.token_policy_for).
        return form_for_actor(super().get_form(request, obj, change, **kwargs), admin_user(request))

    @admin.display(description="Name", ordering="name")
    def name_display(self, obj: Connection) -> str:
        return obj.name

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "oauth_client" and formfield is not None:
            # Deleting a client that connections use is refused anyway; offer add and edit only.
            formfield.widget.can_delete_related = False
        return formfield

    @admin.display(description="Status", ordering="status")
    def status_display(self, obj: Connection) -> str:
        return status_badge(obj)

    @admin.display(description="Front company")
    def front_company(self, obj: Connection) -> str:
        if not obj.front_company_id:
            return "Not known yet: Front reports it when the connection is tested or authorized."
        return f"{obj.front_company_name} ({obj.front_company_id})"

    @admin.display(description="API token")
    def api_token_status(self, obj: Connection) -> str:
        state = secret_state(obj.api_token)
        if state is SecretState.SET and obj.api_token_changed_at:
            return f"Set, last changed {obj.api_token_changed_at:%Y-%m-%d %H:%M} UTC"
        return str(state)

    @admin.display(description="OAuth 2.0 tokens")
    def oauth_token_status(self, obj: Connection) -> str:
        state = secret_state(obj.access_token)
        if state is SecretState.SET and obj.access_token_expires_at:
            return f"Set, access token expires {obj.access_token_expires_at:%Y-%m-%d %H:%M} UTC"
        return str(state)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # The stubs expect the strings of a query string; a pk selects the owner just the same.
        initial: dict[str, Any] = super().get_changeform_initial_data(request)
        initial.setdefault("owner", request.user.pk)
        return initial

    @sensitive_secrets
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().changeform_view(request, *args, **kwargs)

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        form.save(actor=admin_user(request), source=Source.ADMIN)
        if obj.auth_type == AuthType.TOKEN:
            services.connection_test(connection=obj, actor=admin_user(request), source=Source.ADMIN)
            self.report_test(request, obj)

    def report_test(self, request: HttpRequest, obj: Connection) -> None:
        """Tell the operator what Front answered to the latest test of one connection."""
        if obj.status == Status.ONLINE:
            self.message_user(
                request,
                f"Test connection: \u201c{obj.name}\u201d is Online "
                f"(Front company {obj.front_company_name}).",
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request,
                f"Test connection: \u201c{obj.name}\u201d is {obj.get_status_display()}: "
                f"{obj.last_check_result}",
                messages.WARNING,
            )

    def response_add(self, request: HttpRequest, obj: Connection, *args: Any) -> HttpResponse:
        return self.authorize_or(request, obj) or super().response_add(request, obj, *args)

    def response_change(self, request: HttpRequest, obj: Connection) -> HttpResponse:
        return self.authorize_or(request, obj) or super().response_change(request, obj)

    def authorize_or(self, request: HttpRequest, obj: Connection) -> HttpResponse | None:
        """After Save and authorize, send the operator to Front; None for the other buttons."""
        if "_authorize" not in request.POST:
            return None
        change_url = reverse("admin:connections_connection_change", args=[obj.pk])
        if not obj.is_oauth:
            self.message_user(
                request,
                f"\u201c{obj.name}\u201d was saved. Save and authorize is only for OAuth 2.0 "
                "connections.",
                messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        try:
            url = authorization.connection_authorize_start(
                connection=obj,
                user=admin_user(request),
                session=request.session,
                return_url=change_url,
                source=Source.ADMIN,
            )
        except authorization.AuthorizationError as exc:
            self.message_user(request, f"\u201c{obj.name}\u201d was saved. {exc}", messages.ERROR)
            return HttpResponseRedirect(change_url)
        return HttpResponseRedirect(url)

    def get_urls(self) -> list[URLPattern]:
        test = self.admin_site.admin_view(sensitive_post_parameters("api_token")(self.test_view))
        return [
            path("<path:object_id>/test/", test, name="connections_connection_test"),
            *super().get_urls(),
        ]

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The Test connection button of the change page (POST only, change permission)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No connection has this id; it may have been deleted.")
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        services.connection_test(connection=obj, actor=admin_user(request), source=Source.ADMIN)
        self.report_test(request, obj)
        change_url = reverse("admin:connections_connection_change", args=[obj.pk])
        return HttpResponseRedirect(change_url, status=303)

    @admin.action(description="Test connection", permissions=["change"])
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        online = total = 0
        operator = admin_user(request)
        for connection in queryset:
            services.connection_test(connection=connection, actor=operator, source=Source.ADMIN)
            total += 1
            online += connection.status == Status.ONLINE
        level = messages.SUCCESS if online == total else messages.WARNING
        self.message_user(
            request,
            f"Tested {total} connection{'s' if total != 1 else ''}: {online} online, "
            f"{total - online} not online (see each connection's last check result).",
            level,
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # form.save already set the scopes inside its transaction.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Connection) -> None:
        services.connection_delete(connection=obj, actor=admin_user(request), source=Source.ADMIN)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        operator = admin_user(request)
        for connection in queryset:
            services.connection_delete(connection=connection, actor=operator, source=Source.ADMIN)


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):
    list_display = ["code", "description"]
    search_fields = ["code", "description"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "connection_name", "action", "source", "actor", "success"]
    list_filter = ["action", "source", "success"]
    list_select_related = ["actor"]
    search_fields = ["connection_name", "message"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
