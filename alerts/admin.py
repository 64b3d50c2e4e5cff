from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters

from alerts.forms import WebhookForm
from alerts.models import AlertPreference, LapseWarning, Notification, Webhook, WebhookDelivery
from common.admin import FrontConnectAdmin, ReadOnlyAdmin
from common.crypto import SecretState, secret_state


class AlertPreferenceInline(admin.StackedInline):
    model = AlertPreference
    can_delete = False
    fields = ["email_enabled", "all_connections"]
    verbose_name_plural = "alerts"


admin.site.unregister(User)


@admin.register(User)
class AlertsUserAdmin(UserAdmin):
    """Django's user admin with the user's alert settings on the same page."""

    inlines = [*UserAdmin.inlines, AlertPreferenceInline]


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
        "note",
        "created_at",
        "sent_at",
    ]

    @admin.display(description="Connection", ordering="transition__connection_name")
    def connection_name(self, obj: Notification) -> str:
        return obj.transition.connection_name


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
        "note",
        "created_at",
        "sent_at",
    ]


sensitive_signing_secret = method_decorator(sensitive_post_parameters("signing_secret"))


@admin.register(Webhook)
class WebhookAdmin(FrontConnectAdmin):
    form = WebhookForm
    list_display = ["name", "url", "is_active", "updated_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "url"]
    readonly_fields = ["secret_status"]
    fieldsets = [
        (None, {"fields": ["name", "url", "is_active", "statuses"]}),
        ("Signature", {"fields": ["signing_secret", "secret_status"]}),
    ]

    @admin.display(description="Signing secret status")
    def secret_status(self, obj: Webhook | None) -> str:
        if obj is None or obj.pk is None:
            return "Not set"
        state = secret_state(obj.secret)
        if state is not SecretState.SET or obj.secret_changed_at is None:
            return state
        return f"Set, last changed {obj.secret_changed_at:%Y-%m-%d %H:%M} UTC"

    @sensitive_signing_secret
    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        return super().changeform_view(request, *args, **kwargs)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "webhook",
        "connection_name",
        "attempts",
        "http_status",
        "error",
        "delivered_at",
    ]
    list_filter = ["webhook", ("delivered_at", admin.EmptyFieldListFilter)]
    search_fields = ["transition__connection_name", "webhook__name"]
    fields = [
        "webhook",
        "transition",
        "attempts",
        "http_status",
        "error",
        "created_at",
        "last_attempt_at",
        "delivered_at",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return super().get_queryset(request).select_related("webhook", "transition")

    @admin.display(description="Connection", ordering="transition__connection_name")
    def connection_name(self, obj: WebhookDelivery) -> str:
        return obj.transition.connection_name
