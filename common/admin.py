"""Admin building blocks that every FrontConnect ModelAdmin uses.

``SecretsNeverShown`` keeps encrypted fields out of every rendered value, whatever the
operator's permissions; ``StrictChangeList`` accepts only the declared filters and a bounded
search (the admin's autocomplete too), so the query string cannot run arbitrary lookups.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList, ChangeListSearchForm
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.text import smart_split
from django.utils.translation import gettext, gettext_lazy

from common.crypto import EncryptedTextField
from common.forms import PreferencesForm
from common.models import Preferences

MAX_SEARCH_LENGTH = 200
MAX_SEARCH_TERMS = 10


def search_too_big(query: str) -> bool:
    """Whether a search is not run: too long, too many words, or a NUL (PostgreSQL refuses it)."""
    return (
        "\x00" in query
        or len(query) > MAX_SEARCH_LENGTH
        or len(list(smart_split(query))) > MAX_SEARCH_TERMS
    )


class BoundedSearchForm(ChangeListSearchForm):
    """The changelist's search box, refusing searches that would build huge queries."""

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        query = cleaned.get(SEARCH_VAR) or ""
        if search_too_big(query):
            # A field error drops the search, so the admin lists without it and says why.
            self.add_error(
                SEARCH_VAR,
                ValidationError(
                    gettext(
                        "Search for at most %(words)s words and %(characters)s characters; "
                        "this search was not run."
                    ),
                    code="search_too_long",
                    params={"words": MAX_SEARCH_TERMS, "characters": MAX_SEARCH_LENGTH},
                ),
            )
        return self.cleaned_data


class StrictChangeList(ChangeList):
    """A changelist that answers 400 to any query parameter no declared filter uses."""

    search_form_class = BoundedSearchForm

    def get_filters(self, request: HttpRequest) -> Any:
        params = self.get_filters_params()
        if any("\x00" in value for values in params.values() for value in values):
            # PostgreSQL refuses NUL in text with an error, which would be a 500.
            raise DisallowedModelAdminLookup("Filter values cannot contain NUL characters.")
        asked = set(params)
        filters = super().get_filters(request)
        remaining = filters[2]
        # Declared filters (and the date hierarchy) consume their parameters; anything left is
        # an arbitrary lookup such as name__regex, which the admin would otherwise run.
        undeclared = sorted(asked & set(remaining))
        if undeclared:
            raise DisallowedModelAdminLookup(f"Filtering by {undeclared[0]} is not offered.")
        return filters


def secret_field_names(model: type[Any]) -> frozenset[str]:
    """The model's encrypted fields: never shown as values."""
    return frozenset(
        field.name for field in model._meta.concrete_fields if isinstance(field, EncryptedTextField)
    )


class StrictListMixin:
    """Lists that accept only their declared filters and a bounded search."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return StrictChangeList

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> Any:
        # The admin's autocomplete searches without the changelist's form: it finds nothing.
        if search_too_big(search_term):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)  # type: ignore[misc]


def strict_lists_everywhere(site: admin.AdminSite) -> None:
    """Give every registered ModelAdmin a strict list, third-party ones included.

    Django's user admin and django-celery-beat's schedule admins would otherwise run any lookup
    a staff user puts in the query string (``?username__regex=(a+)+$``).
    """
    for model, model_admin in list(site._registry.items()):
        if isinstance(model_admin, StrictListMixin):
            continue
        strict = type(
            f"Strict{type(model_admin).__name__}", (StrictListMixin, type(model_admin)), {}
        )
        site.unregister(model)
        site.register(model, strict)


class PreferencesInline(admin.StackedInline):
    """A person's language and time zone, on their page of the user admin."""

    model = Preferences
    form = PreferencesForm
    can_delete = False
    # One row per person: the admin titles it with verbose_name.
    verbose_name = verbose_name_plural = gettext_lazy("Language and time zone")


def user_admin_with_preferences(site: admin.AdminSite) -> None:
    """Show the language and time zone on the user admin's page, whichever app registered it
    last (alerts, then teams, subclass Django's)."""
    user_model = get_user_model()
    user_admin = site._registry.get(user_model)
    if user_admin is None or PreferencesInline in user_admin.inlines:
        return
    with_preferences = type(
        type(user_admin).__name__,
        (type(user_admin),),
        {"inlines": [*user_admin.inlines, PreferencesInline]},
    )
    site.unregister(user_model)
    site.register(user_model, with_preferences)


class FrontConnectAdmin(StrictListMixin, admin.ModelAdmin):
    """The base of every FrontConnect ModelAdmin: strict changelists, secrets never shown."""

    def is_read_only(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and not self.has_change_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if not self.is_read_only(request, obj):
            return fieldsets
        # A read-only page renders every field's model value: the secret itself. Its state
        # (set, not set, cannot be decrypted) is shown by a display field instead.
        # Form-only fields (a write-only secret input such as a webhook's signing secret) have
        # no value to show and would make the read-only page fail: they go too.
        secrets = secret_field_names(self.model)
        model_fields = {f.name for f in self.model._meta.get_fields()}

        def shown(name: str) -> bool:
            return name not in secrets and (
                name in model_fields or hasattr(self, name) or hasattr(self.model, name)
            )

        def keep(fields: Any) -> list[Any]:
            kept: list[Any] = []
            for item in fields:
                if isinstance(item, (list, tuple)):  # several fields on one line
                    if row := [name for name in item if shown(name)]:
                        kept.append(tuple(row))
                elif shown(item):
                    kept.append(item)
            return kept

        return [
            (title, {**options, "fields": keep(options["fields"])}) for title, options in fieldsets
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        secrets = secret_field_names(self.model)
        return [f for f in super().get_readonly_fields(request, obj) if f not in secrets]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if self.is_read_only(request, obj):
            # The editing form needs its editable fields; a read-only page has none.
            kwargs["form"] = forms.ModelForm
        return super().get_form(request, obj, change=change, **kwargs)


class ReadOnlyAdmin(FrontConnectAdmin):
    """A log: operators with view permission read it; nobody adds, edits or deletes it here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# FrontConnect's own apps, in the order the admin index lists them; every other app (Django's
# users and groups, sign-in throttling, the worker's schedules) is grouped under "System".
PRODUCT_APPS = ("connections", "oauthclients", "api", "alerts")
SYSTEM_LABEL = "system"


class NamedAutocompleteView(AutocompleteJsonView):
    """The admin's autocomplete, naming people by full name too: "alice (Alice Martin)"."""

    def serialize_result(self, obj: Any, to_field_name: str) -> dict[str, Any]:
        result: dict[str, Any] = super().serialize_result(obj, to_field_name)  # type: ignore[misc]
        full_name = obj.get_full_name().strip() if isinstance(obj, AbstractUser) else ""
        if full_name:
            result["text"] = f"{result['text']} ({full_name})"
        return result


class FrontConnectAdminSite(admin.AdminSite):
    """The admin site: FrontConnect's models first, third-party ones together under System."""

    site_header = "FrontConnect"
    site_title = "FrontConnect"
    index_title = gettext_lazy("Connections to Front")

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        apps = super().get_app_list(request, app_label)
        if app_label is not None:  # one app's own page lists that app as it is
            return apps
        ours = sorted(
            (app for app in apps if app["app_label"] in PRODUCT_APPS),
            key=lambda app: PRODUCT_APPS.index(app["app_label"]),
        )
        others = [app for app in apps if app["app_label"] not in PRODUCT_APPS]
        if not others:
            return ours
        system = {
            "name": gettext("System"),
            "app_label": SYSTEM_LABEL,
            # Not an app page: a link that is in no admin path, so the sidebar never marks it.
            "app_url": f"{reverse('admin:index', current_app=self.name)}#{SYSTEM_LABEL}",
            "has_module_perms": True,
            "models": [model for app in others for model in app["models"]],
        }
        return [*ours, system]

    def autocomplete_view(self, request: HttpRequest) -> HttpResponse:
        # Owners are found by name (the user admin searches first and last names): say whose.
        # A JsonResponse, whatever the stubs say of as_view().
        return cast(HttpResponse, NamedAutocompleteView.as_view(admin_site=self)(request))
