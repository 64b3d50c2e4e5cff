from __future__ import annotations

import base64
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.cache import add_never_cache_headers
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from api.keys import apikey_create, apikey_grant_refusals, apikey_revoke, return_origins_parse
from api.models import ApiKey, ApiKeyUsage, KeyScope, Permission
from common.crypto import decrypt, encrypt
from common.dates import moment_text
from common.http import admin_user
from connections import access

# The new key waits here, encrypted, between the POST that made it and the one page that shows
# it (POST-redirect-GET): reloading that page shows nothing new and never makes a second key.
NEW_KEY_SESSION = "frontconnect_new_api_key"
NEW_KEY_ATTRIBUTE = "_frontconnect_new_api_key"
SHOWN_ONCE = _("This key was shown once when it was created and cannot be shown again.")


# Each permission with the call that needs it: the form's help and the created key's examples.
EXAMPLES: dict[str, tuple[Promise, str]] = {
    Permission.READ: (_("List the connections the key reaches"), "{base}/api/v1/connections/"),
    Permission.TOKEN: (
        _("Get a connection's access token for Front"),
        "-X POST {base}/api/v1/connections/42/access-token/",
    ),
    Permission.PROXY: (
        _("Call Front's API through FrontConnect"),
        '"{base}/api/v1/connections/42/front/conversations?limit=5"',
    ),
    Permission.WRITE: (
        _("Test a connection (and create, change, delete)"),
        "-X POST {base}/api/v1/connections/42/test/",
    ),
}
PERMISSIONS_HELP = _(
    "What the key may do. Read connection details: GET /api/v1/connections/. Get an access "
    "token: POST /api/v1/connections/ID/access-token/. Call Front through the proxy: "
    "/api/v1/connections/ID/front/ followed by Front's own path. Create, change and delete "
    "connections: POST, PUT, PATCH and DELETE on /api/v1/connections/, and POST "
    "/api/v1/connections/ID/test/."
)


def key_examples(key: ApiKey) -> list[dict[str, Any]]:
    """A curl example for each permission, saying which it needs and whether the key has it."""
    base = settings.FRONTCONNECT_BASE_URL
    return [
        {
            "label": str(label),
            "command": f'curl -H "Authorization: Bearer $KEY" {target.format(base=base)}',
            "permission": str(Permission(permission).label),
            "code": str(permission),
            "granted": str(permission) in key.permissions,
        }
        for permission, (label, target) in EXAMPLES.items()
    ]


class ApiKeyForm(forms.ModelForm):
    # Who adds or changes the key; set per request by ApiKeyAdmin.get_form.
    issuer: User | AnonymousUser | None = None

    permissions = forms.MultipleChoiceField(
        label=_("Permissions"),
        choices=Permission.choices,
        widget=forms.CheckboxSelectMultiple,
        help_text=PERMISSIONS_HELP,
    )

    return_origins = forms.CharField(
        label=_("Allowed return origins"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "With 'authorize': one origin a line, such as https://app.example.com. A return_url "
            "given with an authorization link must have one of these origins."
        ),
    )

    class Meta:
        model = ApiKey
        fields = [
            "name", "owner", "scope", "users", "connections", "team", "permissions", "expires_at",
            "return_origins",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial["return_origins"] = "\n".join(self.instance.return_origins or [])

    def clean_permissions(self) -> list[str]:
        return sorted(set(self.cleaned_data["permissions"]))

    def clean_return_origins(self) -> list[str]:
        return return_origins_parse(self.cleaned_data["return_origins"])

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("scope") == KeyScope.USERS and not cleaned.get("users"):
            owner = cleaned.get("owner")
            cleaned["users"] = [owner] if owner is not None else []
        # Only the reach field of the chosen scope counts (the page's script hides the other).
        if cleaned.get("scope") != KeyScope.USERS:
            cleaned["users"] = []
        if cleaned.get("scope") != KeyScope.CONNECTIONS:
            cleaned["connections"] = []
        if cleaned.get("scope") == KeyScope.CONNECTIONS and not cleaned.get("connections"):
            self.add_error("connections", gettext("Choose the connections this key reaches."))
        owner, scope = cleaned.get("owner"), cleaned.get("scope")
        if scope == KeyScope.TEAM:
            cleaned["owner"] = owner = None  # a team's key is owned by the team
        elif owner is None and "owner" in self.fields and "owner" not in self.errors:
            self.add_error("owner", gettext("Choose the person accountable for this key."))
        elif scope is not None and cleaned.get("team") is not None:
            cleaned["team"] = None  # only a team's key names a team
        if scope is None or {"scope", "users", "connections", "permissions"} & set(self.errors):
            return cleaned
        refusals = apikey_grant_refusals(
            issuer=self.issuer,
            owner=owner,
            scope=scope,
            permissions=cleaned.get("permissions") or [],
            users=(cleaned.get("users") or []) if scope == KeyScope.USERS else [],
            connections=(
                (cleaned.get("connections") or []) if scope == KeyScope.CONNECTIONS else []
            ),
            team=cleaned.get("team"),
        )
        for field, sentences in refusals.items():
            for sentence in sentences:
                self.add_error(field, sentence)
        return cleaned


class ApiKeyUsageInline(admin.TabularInline):
    model = ApiKeyUsage
    fields = ("connection", "count", "last_used_at")
    readonly_fields = ("connection", "count", "last_used_at")
    extra = 0
    can_delete = False
    verbose_name_plural = _("Usage by connection")

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
        "team",
        "allowed",
        "scope",
        "expires_at",
        "last_used_at",
        "last_used_ip",
        "revoked",
    ]
    list_filter = ["scope", ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["owner", "team"]
    search_fields = ["name", "public_id", "owner__username"]
    # Choices are searched on demand (the admin's autocomplete), never all listed in the page.
    autocomplete_fields = ["owner", "users", "connections"]
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

    class Media:
        js = ["api/js/apikey_form.js"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ApiKey]:
        # A key's pages name what it reaches: only who may see all of it sees the key; and the
        # keys someone may manage are those of the people they may act for.
        issuer = admin_user(request)
        keys = access.keys_visible_to(issuer, super().get_queryset(request))
        return keys if access.user_may_act_for_others(issuer) else keys.filter(owner=issuer)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        return type(form.__name__, (form,), {"issuer": admin_user(request)})

    def get_autocomplete_fields(self, request: HttpRequest) -> Any:
        """Searchable choices only where the issuer may search them; else a short plain list."""
        issuer = admin_user(request)
        user_admin = self.admin_site._registry.get(get_user_model())
        may_search_users = user_admin is not None and user_admin.has_view_permission(request)
        fields = []
        if may_search_users and access.user_may_act_for_others(issuer):
            fields.append("owner")
        if may_search_users and access.user_is_operator(issuer):
            fields.append("users")
        if access.user_is_operator(issuer):
            fields.append("connections")
        return fields

    def _choices(self, request: HttpRequest, name: str) -> QuerySet[Any] | None:
        """What the issuer may choose for a relation: what they may see and act for."""
        issuer = admin_user(request)
        users = get_user_model().objects.order_by("username")
        if name == "owner" and not access.user_may_act_for_others(issuer):
            return users.filter(pk=issuer.pk)
        if name == "users" and "users" not in self.get_autocomplete_fields(request):
            return users.filter(pk=issuer.pk)
        if name == "connections":
            return access.connections_visible_to(issuer).order_by("name", "pk")
        if name == "team":
            # A team's key works while its creator stays in the team: its admins issue it.
            return access.teams_of(issuer, admin=True).order_by("name", "pk")
        return None

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        choices = self._choices(request, db_field.name)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        choices = self._choices(request, db_field.name)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {"owner": admin_user(request).pk, **super().get_changeform_initial_data(request)}

    def get_fieldsets(self, request: HttpRequest, obj: ApiKey | None = None) -> Any:
        main = [
            "name", "owner", "permissions", "return_origins", "expires_at", "scope", "users",
            "connections", "team",
        ]  # fmt: skip
        if obj is None:
            return [(None, {"fields": main})]
        return [
            (None, {"fields": ["prefix", *main]}),
            (
                _("Use and revocation"),
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

    @admin.display(description=_("Key starts with"))
    def prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}_…"

    @admin.display(description=_("Permissions"))
    def allowed(self, obj: ApiKey) -> str:
        return ", ".join(obj.permissions) or "-"

    @admin.display(description=_("Revoked"), ordering="revoked_at")
    def revoked(self, obj: ApiKey) -> str:
        return moment_text(obj.revoked_at) if obj.revoked_at else "-"

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
            team=form.cleaned_data.get("team") if obj.scope == KeyScope.TEAM else None,
        )
        # Never in a message (message storage is a cookie): encrypted in the server-side
        # session, for the one page that shows it, which forgets it.
        setattr(request, NEW_KEY_ATTRIBUTE, made.plaintext)

    def response_add(
        self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None
    ) -> HttpResponse:
        plaintext = getattr(request, NEW_KEY_ATTRIBUTE, None)
        if plaintext is None:
            return super().response_add(request, obj, post_url_continue)
        request.session[NEW_KEY_SESSION] = {
            "pk": obj.pk,
            "sealed": base64.b64encode(encrypt(plaintext)).decode("ascii"),
        }
        return HttpResponseRedirect(reverse("admin:api_apikey_created", args=[obj.pk]))

    def get_urls(self) -> list[URLPattern]:
        created = path(
            "<int:pk>/created/",
            self.admin_site.admin_view(self.created_view),
            name="api_apikey_created",
        )
        return [created, *super().get_urls()]

    def created_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The new key, once: taken out of the session as it is shown."""
        waiting = request.session.get(NEW_KEY_SESSION)
        key = self.get_queryset(request).filter(pk=pk).first()
        if key is None or not isinstance(waiting, dict) or waiting.get("pk") != pk:
            self.message_user(request, SHOWN_ONCE, messages.INFO)
            target = "admin:api_apikey_change" if key is not None else "admin:api_apikey_changelist"
            return HttpResponseRedirect(reverse(target, args=[pk] if key is not None else []))
        del request.session[NEW_KEY_SESSION]
        plaintext = decrypt(base64.b64decode(str(waiting["sealed"])))
        if not isinstance(plaintext, str):  # the encryption key changed in between
            self.message_user(request, SHOWN_ONCE, messages.INFO)
            return HttpResponseRedirect(reverse("admin:api_apikey_change", args=[pk]))
        context = {
            **self.admin_site.each_context(request),
            "key": key,
            "plaintext": plaintext,
            "examples": key_examples(key),
        }
        response = TemplateResponse(request, "admin/api/apikey/created.html", context)
        add_never_cache_headers(response)
        return response

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        revoked = sum(apikey_revoke(key=key, actor=admin_user(request)) for key in queryset)
        message = ngettext("Revoked %(count)s API key.", "Revoked %(count)s API keys.", revoked)
        self.message_user(request, message % {"count": revoked}, messages.SUCCESS)
