from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from api.keys import apikey_create, apikey_revoke
from api.models import ApiKey, ApiKeyUsage, KeyScope, Permission
from common.http import admin_user

NEW_KEY_ATTRIBUTE = "_frontconnect_new_api_key"


class ApiKeyForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        choices=Permission.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="What the key may do.",
    )

    class Meta:
        model = ApiKey
        fields = ["name", "owner", "scope", "users", "connections", "permissions", "expires_at"]

    def clean_permissions(self) -> list[str]:
        return sorted(set(self.cleaned_data["permissions"]))

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("scope") == KeyScope.USERS and not cleaned.get("users"):
            owner = cleaned.get("owner")
            cleaned["users"] = [owner] if owner is not None else []
        if cleaned.get("scope") == KeyScope.CONNECTIONS and not cleaned.get("connections"):
            self.add_error("connections", "Choose the connections this key reaches.")
        return cleaned


class ApiKeyUsageInline(admin.TabularInline):
    model = ApiKeyUsage
    fields = ("connection", "count", "last_used_at")
    readonly_fields = ("connection", "count", "last_used_at")
    extra = 0
    can_delete = False
    verbose_name_plural = "Usage by connection"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = [
        "name",
        "prefix",
        "owner",
        "allowed",
        "scope",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked",
    ]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["owner"]
    search_fields = ["name", "public_id", "owner__username"]
    raw_id_fields = ["owner"]
    filter_horizontal = ["users", "connections"]
    readonly_fields = [
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "last_used_ip",
        "revoked_at",
        "revoked_by",
    ]
    actions = ["revoke"]
    inlines = [ApiKeyUsageInline]

    def get_fieldsets(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        main = ["name", "owner", "permissions", "expires_at", "scope", "users", "connections"]
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": ["prefix", *main]}),
            (
                "Use and revocation",
                {
                    "fields": [
                        "created_by",
                        "created_at",
                        "last_used_at",
                        "last_used_ip",
                        "revoked_at",
                        "revoked_by",
                    ]
                },  # fmt: skip
            ),
        ]

    def get_inlines(self, request: HttpRequest, obj: ApiKey | None) -> Any:
        return self.inlines if obj is not None else []

    @admin.display(description="Key starts with")
    def prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}_…"

    @admin.display(description="Permissions")
    def allowed(self, obj: ApiKey) -> str:
        return ", ".join(obj.permissions) or "-"

    @admin.display(description="Revoked", ordering="revoked_at")
    def revoked(self, obj: ApiKey) -> str:
        return f"{obj.revoked_at:%Y-%m-%d %H:%M}" if obj.revoked_at else "-"

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        made = apikey_create(
            key=obj,
            name=obj.name,
            owner=obj.owner,
            permissions=obj.permissions,
            scope=obj.scope,
            users=form.cleaned_data.get("users") or [],
            connections=form.cleaned_data.get("connections") or [],
            expires_at=obj.expires_at,
            created_by=admin_user(request),
        )
        # Kept on this request only, for the one page that shows it; never in a message or the
        # session (message storage is a cookie).
        setattr(request, NEW_KEY_ATTRIBUTE, made.plaintext)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        plaintext = getattr(request, NEW_KEY_ATTRIBUTE, None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "key": obj, "plaintext": plaintext}
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(apikey_revoke(key=key, actor=admin_user(request)) for key in queryset)
        self.message_user(request, f"Revoked {revoked} API key(s).", messages.SUCCESS)
