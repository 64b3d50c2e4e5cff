from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.debug import sensitive_post_parameters

from alerts.forms import UserAddForm, WebhookForm
from alerts.models import AlertPreference, LapseWarning, Notification, Webhook, WebhookDelivery
from alerts.tasks import webhook_deliver
from alerts.webhooks import delivery_redeliver, webhook_resume
from common.admin import FrontConnectAdmin, ReadOnlyAdmin
from common.broker import task_dispatch
from common.crypto import SecretState, secret_state
from common.dates import moment_text
from connections import access, lifecycle


class AlertPreferenceInline(admin.StackedInline):
    model = AlertPreference
    can_delete = False
    fields = ["email_enabled", "all_connections"]
    verbose_name_plural = gettext_lazy("alerts")


admin.site.unregister(User)


@admin.register(User)
class AlertsUserAdmin(UserAdmin):
    """Django's user admin with the user's alert settings on the same page."""

    inlines = [*UserAdmin.inlines, AlertPreferenceInline]
    add_form = UserAddForm
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "username",
                    "email",
                    "first_name",
                    "last_name",
                    "usable_password",
                    "password1",
                    "password2",
                ),
            },
        ),
    )


@admin.register(AlertPreference)
class AlertPreferenceAdmin(FrontConnectAdmin):
    list_display = ["user", "email_enabled", "all_connections"]
    list_filter = ["email_enabled", "all_connections"]
    search_fields = ["user__username", "user__email"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "connection_name", "kind", "user", "state", "attempts", "sent_at"]
    list_filter = ["state", "kind"]
    search_fields = ["transition__connection_name", "user__username"]
    list_select_related = ["transition", "user"]
    fields = [
        "transition",
        "user",
        "kind",
        "state",
        "attempts",
        "error",
        "note_text",
        "created_at",
        "sent_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Notification]:
        rows = super().get_queryset(request)
        return access.rows_about_visible_connections(request.user, rows, "transition__connection")

    @admin.display(description=gettext_lazy("Connection"), ordering="transition__connection_name")
    def connection_name(self, obj: Notification) -> str:
        return obj.transition.connection_name

    @admin.display(description=gettext_lazy("note"))
    def note_text(self, obj: Notification) -> str:
        return str(obj.note)


@admin.register(LapseWarning)
class LapseWarningAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "connection", "lapses_at", "user", "state", "attempts", "sent_at"]
    list_filter = ["state"]
    search_fields = ["connection__name", "user__username"]
    list_select_related = ["connection", "user"]
    fields = [
        "connection",
        "lapses_at",
        "user",
        "state",
        "attempts",
        "error",
        "note_text",
        "created_at",
        "sent_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[LapseWarning]:
        return access.rows_about_visible_connections(request.user, super().get_queryset(request))

    @admin.display(description=gettext_lazy("note"))
    def note_text(self, obj: LapseWarning) -> str:
        return str(obj.note)


sensitive_webhook_fields = method_decorator(sensitive_post_parameters("signing_secret", "url"))


class PausedFilter(admin.SimpleListFilter):
    title = gettext_lazy("paused")
    parameter_name = "paused"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", _("Paused")), ("no", _("Not paused"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> QuerySet[Webhook]:
        if self.value() in ("yes", "no"):
            return queryset.filter(paused_at__isnull=self.value() == "no")
        return queryset


@admin.register(Webhook)
class WebhookAdmin(FrontConnectAdmin):
    form = WebhookForm
    # The list shows each URL's host only: reading the URL itself would decrypt every row.
    list_display = ["name", "host", "is_active", "pause_status", "updated_at"]
    list_filter = ["is_active", PausedFilter]
    search_fields = ["name", "host"]
    readonly_fields = ["url_status", "pause_status", "secret_status"]
    actions = ["resume"]
    fieldsets = [
        (None, {"fields": ["name", "url", "url_status", "is_active", "events", "statuses"]}),
        (gettext_lazy("Deliveries"), {"fields": ["pause_status"]}),
        (gettext_lazy("Signature"), {"fields": ["signing_secret", "secret_status"]}),
    ]

    @admin.display(description=gettext_lazy("URL"), ordering="host")
    def url_status(self, obj: Webhook | None) -> str:
        # The path and query may hold the receiver's token: the host and whether it is stored.
        if obj is None or obj.pk is None:
            return str(SecretState.NOT_SET)
        state = secret_state(obj.url)
        if state is SecretState.SET:
            return _("%(host)s (path and query stored encrypted)") % {"host": obj.host}
        if obj.host:
            return _("%(host)s: %(state)s") % {"host": obj.host, "state": state}
        return str(state)

    @admin.display(description=gettext_lazy("Paused"), ordering="paused_at")
    def pause_status(self, obj: Webhook | None) -> str:
        if obj is None or obj.paused_at is None:
            return _("No")
        return _("Since %(when)s: %(reason)s") % {
            "when": moment_text(obj.paused_at),
            "reason": obj.pause_reason,
        }

    @admin.action(
        description=gettext_lazy("Resume selected paused webhooks"), permissions=["change"]
    )
    def resume(self, request: HttpRequest, queryset: QuerySet[Webhook]) -> None:
        resumed = 0
        for webhook in queryset.filter(paused_at__isnull=False):
            webhook_resume(webhook=webhook)
            resumed += 1
        self.message_user(
            request,
            ngettext(
                "Resumed %(count)s webhook; new status changes are sent.",
                "Resumed %(count)s webhooks; new status changes are sent.",
                resumed,
            )
            % {"count": resumed},
        )

    @admin.display(description=gettext_lazy("Signing secret status"))
    def secret_status(self, obj: Webhook | None) -> str:
        if obj is None or obj.pk is None:
            return str(SecretState.NOT_SET)
        state = secret_state(obj.secret)
        if state is not SecretState.SET or obj.secret_changed_at is None:
            return str(state)
        return _("Set, last changed %(when)s") % {"when": moment_text(obj.secret_changed_at)}

    @sensitive_webhook_fields
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().changeform_view(request, *args, **kwargs)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "webhook",
        "event_type",
        "connection_name",
        "attempts",
        "http_status",
        "error_text",
        "delivered_at",
        "skipped_at",
    ]
    list_filter = [
        "webhook",
        ("delivered_at", admin.EmptyFieldListFilter),
        ("skipped_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["transition__connection_name", "event__connection_name", "webhook__name"]
    actions = ["redeliver"]
    fields = [
        "webhook",
        "event_type",
        "webhook_id_header",
        "connection_name",
        "attempts",
        "http_status",
        "error_text",
        "created_at",
        "last_attempt_at",
        "delivered_at",
        "skipped_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        rows = super().get_queryset(request).select_related("webhook", "transition", "event")
        by_transition = access.rows_about_visible_connections(
            request.user, rows, "transition__connection"
        )
        by_event = access.rows_about_visible_connections(request.user, rows, "event__connection")
        return by_transition | by_event

    @admin.display(description=gettext_lazy("Connection"))
    def connection_name(self, obj: WebhookDelivery) -> str:
        if obj.event is not None and obj.event.connection_name:
            return obj.event.connection_name
        return obj.transition.connection_name if obj.transition is not None else "-"

    @admin.display(description=gettext_lazy("error"))
    def error_text(self, obj: WebhookDelivery) -> str:
        return str(obj.error)

    @admin.display(description=gettext_lazy("Event"))
    def event_type(self, obj: WebhookDelivery) -> str:
        return obj.event.type if obj.event is not None else lifecycle.STATUS_CHANGED

    @admin.display(description="webhook-id")
    def webhook_id_header(self, obj: WebhookDelivery) -> str:
        return obj.event.msg_id if obj.event is not None else "-"

    def has_redeliver_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("alerts.change_webhook")

    @admin.action(
        description=gettext_lazy("Redeliver selected deliveries"), permissions=["redeliver"]
    )
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        queued = refused = 0
        for delivery in queryset.select_related("webhook", "event", "transition"):
            event = delivery_redeliver(delivery=delivery)
            if event is None:
                refused += 1
                continue
            task_dispatch(webhook_deliver, delivery.webhook_id, event.pk)
            queued += 1
        self.message_user(
            request,
            ngettext(
                "Queued %(count)s delivery again, same webhook-id.",
                "Queued %(count)s deliveries again, same webhook-id.",
                queued,
            )
            % {"count": queued},
        )
        if refused:
            self.message_user(
                request,
                ngettext(
                    "%(count)s delivery not queued: its webhook is paused or inactive.",
                    "%(count)s deliveries not queued: their webhook is paused or inactive.",
                    refused,
                )
                % {"count": refused},
                messages.WARNING,
            )
