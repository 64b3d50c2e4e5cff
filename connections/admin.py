from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from common.admin import FrontConnectAdmin, ReadOnlyAdmin
from common.crypto import secret_state
from common.dates import moment_text
from common.http import admin_user
from connections import access, flows, services
from connections.checking import connections_check
from connections.forms import ConnectionAdminForm, form_for_actor
from connections.links import authorization_link_revoke
from connections.models import AuthorizationLink, Connection, Event, Scope, Source
from connections.selectors import connection_history
from connections.views import links as link_views
from connections.wording import check_note

# The change page lists this many history entries and links to the full, filtered history.
HISTORY_ON_PAGE = 20

sensitive_secrets = method_decorator(sensitive_post_parameters("api_token"))


# The bulk Test action starts no check after this many seconds, so that a page of rows answers
# well within a server's request timeout (a check Front leaves hanging takes up to 3 attempts).
ADMIN_TEST_SECONDS = 15.0


def status_badge(connection: Connection) -> str:
    """The status badge of the member pages; its colours live in frontconnect/status.css."""
    return render_to_string("connections/_status.html", {"connection": connection})


def event_changelist_url(connection: Connection) -> str:
    query = urlencode({ConnectionEventFilter.parameter_name: connection.pk})
    return f"{reverse('admin:connections_event_changelist')}?{query}"


@admin.register(Connection)
class ConnectionAdmin(FrontConnectAdmin):
    form = ConnectionAdminForm
    list_display = [
        "name_display",
        "company_name",
        "auth_type",
        "status_display",
        "owner",
        "team",
        "last_check",
    ]
    list_display_links = ["name_display"]
    list_filter = ["auth_type", "status", "oauth_client", "team"]
    list_select_related = ["owner", "team"]
    search_fields = ["name", "company_name"]
    autocomplete_fields = ["owner"]
    # The member page is the owner's only: for any other operator it would be a 404.
    view_on_site = False
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
                    "team",
                ]
            },
        ),
        (
            gettext_lazy("Front"),
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
    actions = ["test_connections"]

    class Media:
        css = {"all": ["frontconnect/status.css"]}

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        # The blank-token policy depends on who edits (connections.rules.token_policy_for).
        return form_for_actor(super().get_form(request, obj, change, **kwargs), admin_user(request))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Connection]:
        # Operators see every connection; who is one is decided in connections.access.
        return super().get_queryset(request) & access.connections_visible_to(request.user)

    @admin.display(description=gettext_lazy("Name"), ordering="name")
    def name_display(self, obj: Connection) -> str:
        return obj.name

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        formfield = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name == "oauth_client" and formfield is not None:
            # Deleting a client that connections use is refused anyway; offer add and edit only.
            formfield.widget.can_delete_related = False
        return formfield

    @admin.display(description=gettext_lazy("Status"), ordering="status")
    def status_display(self, obj: Connection) -> str:
        return status_badge(obj)

    @admin.display(description=gettext_lazy("Last check"), ordering="last_checked_at")
    def last_check(self, obj: Connection) -> str:
        if obj.last_checked_at is None:
            return gettext("Never")
        # The sentence wraps inside the column instead of widening the table past the screen.
        return format_html(
            '<span class="fc-last-check"><time datetime="{}">{}</time>'
            '<span class="fc-last-check-result">{}</span></span>',
            obj.last_checked_at.isoformat(),
            moment_text(obj.last_checked_at),
            check_note(obj),
        )

    @admin.display(description=gettext_lazy("Front company"))
    def front_company(self, obj: Connection) -> str:
        if not obj.front_company_id:
            return gettext(
                "Not known yet: Front reports it when the connection is tested or authorized."
            )
        return f"{obj.front_company_name} ({obj.front_company_id})"

    @admin.display(description=gettext_lazy("API token"))
    def api_token_status(self, obj: Connection) -> str:
        if obj.api_token and obj.api_token_changed_at:
            return gettext("Set, last changed %(time)s") % {
                "time": moment_text(obj.api_token_changed_at)
            }
        return secret_state(obj.api_token)

    @admin.display(description=gettext_lazy("OAuth 2.0 tokens"))
    def oauth_token_status(self, obj: Connection) -> str:
        if obj.access_token and obj.access_token_expires_at:
            return gettext("Set, access token expires %(time)s") % {
                "time": moment_text(obj.access_token_expires_at)
            }
        return secret_state(obj.access_token)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        # The stubs expect the strings of a query string; a pk selects the owner just the same.
        initial: dict[str, Any] = super().get_changeform_initial_data(request)
        initial.setdefault("owner", request.user.pk)
        return initial

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        context = {
            **(extra_context or {}),
            **self.history_context(request, object_id),
            **self.links_context(request, object_id),
        }
        return super().change_view(request, object_id, form_url, context)

    def links_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        """The authorization links section, for operators who may change this connection."""
        connection = self.get_object(request, unquote(object_id))
        if connection is None or not self.has_change_permission(request, connection):
            return {}
        return link_views.links_context(
            request,
            connection,
            create_url=reverse("admin:connections_connection_link_create", args=[connection.pk]),
            revoke_url=lambda link: reverse(
                "admin:connections_connection_link_revoke", args=[connection.pk, link.pk]
            ),
        )

    def history_context(self, request: HttpRequest, object_id: str) -> dict[str, Any]:
        """The latest history entries for the change page, if this operator may see them."""
        if not request.user.has_perm("connections.view_event"):
            return {}
        connection = self.get_object(request, unquote(object_id))
        if connection is None:
            return {}
        return {
            "history": connection_history(connection, limit=HISTORY_ON_PAGE),
            "history_total": connection.events.count(),
            "history_url": event_changelist_url(connection),
        }

    @sensitive_secrets
    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        context = {**(extra_context or {}), **flows.submit_names()}
        response = super().changeform_view(request, object_id, form_url, context)
        saved: Connection | None = getattr(request, "fc_saved_connection", None)
        if saved is None:
            return response
        # After the admin's transaction has committed: the test or the authorization start
        # calls Front, which must never happen inside a transaction.
        follow_up = flows.follow_up_save(
            request,
            saved,
            user=admin_user(request),
            source=Source.ADMIN,
            return_url=reverse("admin:connections_connection_change", args=[saved.pk]),
        )
        return follow_up or response

    def save_model(self, request: HttpRequest, obj: Connection, form: Any, change: bool) -> None:
        form.save(actor=admin_user(request), source=Source.ADMIN)
        request.fc_saved_connection = obj  # type: ignore[attr-defined]

    def get_urls(self) -> list[URLPattern]:
        def action(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            return self.admin_site.admin_view(require_POST(view))

        return [
            path(
                "<path:object_id>/test/", action(self.test_view), name="connections_connection_test"
            ),
            path(
                "<path:object_id>/disconnect/",
                action(self.disconnect_view),
                name="connections_connection_disconnect",
            ),
            path(
                "<path:object_id>/disconnect/confirm/",
                self.admin_site.admin_view(require_GET(self.disconnect_confirm_view)),
                name="connections_connection_disconnect_confirm",
            ),
            path(
                "<path:object_id>/links/",
                action(self.link_create_view),
                name="connections_connection_link_create",
            ),
            path(
                "<path:object_id>/links/created/",
                self.admin_site.admin_view(self.link_created_view),
                name="connections_connection_link_created",
            ),
            path(
                "<path:object_id>/links/<int:link_pk>/revoke/",
                action(self.link_revoke_view),
                name="connections_connection_link_revoke",
            ),
            *super().get_urls(),
        ]

    def changeable_connection(self, request: HttpRequest, object_id: str) -> Connection:
        """The connection a change-page button acts on; 404 if unknown, 403 without change."""
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(gettext("No connection has this id; it may have been deleted."))
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The Test connection button of the change page (POST only, change permission)."""
        obj = self.changeable_connection(request, object_id)
        flows.test(request, obj, actor=admin_user(request), source=Source.ADMIN)
        change_url = reverse("admin:connections_connection_change", args=[obj.pk])
        return HttpResponseRedirect(change_url, status=303)

    def disconnect_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The Disconnect button of an OAuth 2.0 connection (POST only, change permission)."""
        obj = self.changeable_connection(request, object_id)
        flows.disconnect(request, obj, actor=admin_user(request), source=Source.ADMIN)
        change_url = reverse("admin:connections_connection_change", args=[obj.pk])
        return HttpResponseRedirect(change_url, status=303)

    def disconnect_confirm_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Ask before Disconnect: a Front company admin must accept the connection again."""
        obj = self.changeable_connection(request, object_id)
        change_url = reverse("admin:connections_connection_change", args=[obj.pk])
        if not obj.is_oauth:
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "connection": obj,
            "change_url": change_url,
            "title": _("Disconnect “%(name)s”?") % {"name": obj.name},
        }
        return TemplateResponse(
            request, "admin/connections/connection/disconnect_confirm.html", context
        )

    @method_decorator(sensitive_post_parameters("note", "email"))
    def link_create_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Make an authorization link (POST only, change permission); shown once after."""
        obj = self.changeable_connection(request, object_id)
        change_url = reverse("admin:connections_connection_change", args=[obj.pk])
        if not access.user_may_change(request.user, obj):
            raise PermissionDenied
        outcome = link_views.link_create_from_form(
            request,
            obj,
            source=Source.ADMIN,
            created_page=reverse("admin:connections_connection_link_created", args=[obj.pk]),
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        for sentence in link_views.form_sentences(outcome):
            messages.error(request, sentence)
        return HttpResponseRedirect(change_url, status=303)

    def link_created_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The new authorization link, once: taken out of the session as it is shown."""
        obj = self.changeable_connection(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "url": link_views.link_shown_once(request, obj),
            "shown_once": link_views.SHOWN_ONCE,
        }
        response = TemplateResponse(
            request, "admin/connections/connection/link_created.html", context
        )
        add_never_cache_headers(response)
        response["Referrer-Policy"] = "no-referrer"
        return response

    def link_revoke_view(self, request: HttpRequest, object_id: str, link_pk: int) -> HttpResponse:
        """Revoke one open authorization link (POST only, change permission)."""
        obj = self.changeable_connection(request, object_id)
        link = AuthorizationLink.objects.filter(pk=link_pk, connection=obj).first()
        if link is None:
            raise Http404(gettext("This connection has no such authorization link."))
        if authorization_link_revoke(link=link, actor=admin_user(request), source=Source.ADMIN):
            messages.success(
                request, gettext("The authorization link is revoked: it can no longer be used.")
            )
        else:
            messages.warning(request, gettext("That link was already used, revoked or expired."))
        change_url = reverse("admin:connections_connection_change", args=[obj.pk])
        return HttpResponseRedirect(change_url, status=303)

    @admin.action(description=gettext_lazy("Test connection"), permissions=["change"])
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        # Concurrently within each company's budget, never waiting for one: a page of rows
        # must not outlast the request; what the budget defers is counted as not checked.
        report = connections_check(
            queryset,
            concurrency=int(settings.FRONTCONNECT_CHECK_CONCURRENCY),
            source=Source.ADMIN,
            actor=admin_user(request),
            time_limit=ADMIN_TEST_SECONDS,
        )
        total = len(report.results)
        level = messages.SUCCESS if report.online == total else messages.WARNING
        self.message_user(
            request,
            ngettext(
                "Tested %(count)d connection: %(summary)s "
                "(see each connection's last check result).",
                "Tested %(count)d connections: %(summary)s "
                "(see each connection's last check result).",
                total,
            )
            % {"count": total, "summary": report.summary()},
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
class ScopeAdmin(FrontConnectAdmin):
    list_display = ["code", "description"]
    search_fields = ["code", "description"]


class ConnectionEventFilter(admin.SimpleListFilter):
    """The history of one connection, the target of the change page's "full history" link."""

    title = gettext_lazy("connection")
    parameter_name = "connection"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # Listing every connection here would be one row per connection: offer only the
        # chosen one, so the sidebar shows what is filtered and how to clear it.
        value = self.value()
        if not value:
            return []
        names = model_admin.get_queryset(request).filter(connection_id=self.connection_id())
        names = names.values_list("connection_name", flat=True)
        return [(value, names.first() or f"#{value}")]

    def connection_id(self) -> int:
        try:
            return int(self.value() or "")
        except ValueError:
            raise IncorrectLookupParameters(gettext("connection must be a connection id")) from None

    def queryset(self, request: HttpRequest, queryset: QuerySet[Event]) -> QuerySet[Event]:
        if not self.value():
            return queryset
        return queryset.filter(connection_id=self.connection_id())


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at", "connection_name", "action", "source", "who", "success", "sentence",
    ]  # fmt: skip
    list_filter = [ConnectionEventFilter, "action", "source", "success"]
    list_select_related = ["actor"]
    search_fields = ["connection_name", "message"]
    date_hierarchy = "created_at"

    @admin.display(description=gettext_lazy("Who"), ordering="actor__username")
    def who(self, obj: Event) -> str:
        return obj.who

    @admin.display(description=gettext_lazy("Details"))
    def sentence(self, obj: Event) -> str:
        """The stored code and parameters, worded in the reader's language."""
        return str(obj.message)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return access.rows_about_visible_connections(request.user, super().get_queryset(request))
