from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib.admin.widgets import FilteredSelectMultiple
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from common.forms import IdsChoiceField
from common.text import PlainTextValidator, SecretTextValidator
from connections import access
from connections.models import Connection, Source
from connections.moves import moved_sentence
from connections.rules import (
    API_TOKEN_MAX_LENGTH,
    KEEP_TEAM,
    ConnectionInput,
    TokenPolicy,
    connection_apply,
    connection_validate,
    token_policy_for,
)
from connections.wording import Said

API_TOKEN_HELP = _(
    "In Front: Settings > Company > Developers > API tokens. Create a token and paste it here. "
    "It is stored encrypted and never shown again, so enter it again whenever you edit this "
    "connection."
)
API_TOKEN_KEEP_HELP = _(
    "In Front: Settings > Company > Developers > API tokens. Stored encrypted and never shown: "
    "leave blank to keep the stored token."
)
OAUTH_CLIENT_HELP = _(
    "The Front app whose OAuth feature gives the client ID and secret "
    "(Settings > Company > Developers > your app > Features > OAuth)."
)
SCOPES_HELP = _(
    "What this connection may do in Front; the same scopes as in the app's OAuth settings."
)
TEAM_HELP = _(
    "Just me: only you see it. A team: every member of the team sees, uses and tests it; the "
    "team's admins (and you, while in the team) change it."
)
JUST_ME = _("Just me")


class ConnectionForm(forms.ModelForm):
    """The connection form of the self-service pages (and, with an owner field, of the admin).

    It only translates the posted fields into a ``ConnectionInput``: ``connections.rules``
    validates it (in ``clean``) and applies it (in ``save``). The instance is left as stored
    until ``save``, so the rules can see what changed.
    """

    api_token = forms.CharField(
        label=_("API token"),
        required=False,
        strip=True,
        max_length=API_TOKEN_MAX_LENGTH,
        # Lazy, so the error names the token in the reader's language (the stub says str).
        validators=[SecretTextValidator(cast(str, _("The API token")))],
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=API_TOKEN_HELP,
    )

    # Who edits, and through which door: the blank-token policy depends on both.
    source: str = Source.SELF_SERVICE
    actor: User | AnonymousUser | None = None

    class Meta:
        model = Connection
        fields = ["name", "company_name", "auth_type", "oauth_client", "scopes"]
        field_classes = {"scopes": IdsChoiceField}
        widgets = {
            "auth_type": forms.Select(attrs={"data-connection-auth-type": ""}),
            "scopes": FilteredSelectMultiple(_("Scopes"), is_stacked=False),
        }
        help_texts = {
            "name": _("A name you will recognise, unique among your connections."),
            "company_name": _("The company this connection belongs to."),
            "oauth_client": OAUTH_CLIENT_HELP,
            "scopes": SCOPES_HELP,
        }

    class Media:
        js = ["connections/js/connection_form.js"]

    def __init__(
        self,
        *args: Any,
        owner: User | None = None,
        actor: User | AnonymousUser | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.owner = owner
        if actor is not None or self.actor is None:
            self.actor = actor if actor is not None else owner
        self.token_policy = token_policy_for(
            actor=self.actor,
            source=self.source,
            owner_id=self.instance.owner_id if self.instance.pk else None,
        )
        self.connection_input: ConnectionInput | None = None
        self.changed_fields: list[str] = []
        if self.instance.pk and self.token_policy is TokenPolicy.KEEP_IF_BLANK:
            self.fields["api_token"].help_text = API_TOKEN_KEEP_HELP
        client_field = self.fields["oauth_client"]
        if isinstance(client_field, forms.ModelChoiceField):
            client_field.empty_label = _("Choose a client")
        if "scopes" in self.fields:
            self.fields["scopes"].help_text = SCOPES_HELP
        if not self.instance.pk and "team" not in self.fields:
            # Who a new connection belongs to: "Just me" or one of the user's teams. A saved
            # connection moves only through the explicit Move action.
            teams = access.teams_of(self.actor if self.actor is not None else owner)
            self.fields["team"] = forms.ModelChoiceField(
                queryset=teams.order_by("name", "pk"),
                required=False,
                empty_label=JUST_ME,
                label=_("Belongs to"),
                help_text=TEAM_HELP,
            )
            self.order_fields(["name", "team"])

    def _post_clean(self) -> None:
        # The rules validate the whole input in clean(); copying it onto the instance now would
        # hide from them what the change is.
        return

    def clean(self) -> dict[str, Any]:
        # ModelForm.clean returns self.cleaned_data; the stubs allow None for any Form.clean.
        super().clean()
        cleaned = self.cleaned_data
        owner = cleaned.get("owner") or self.owner
        if owner is None and self.instance.pk:
            owner = self.instance.owner
        self.connection_input = ConnectionInput(
            name=cleaned.get("name") or "",
            company_name=cleaned.get("company_name") or "",
            auth_type=cleaned.get("auth_type") or "",
            owner=owner,
            api_token=cleaned.get("api_token") or None,
            oauth_client=cleaned.get("oauth_client"),
            scopes=frozenset(cleaned.get("scopes") or ()),
            team=cleaned.get("team") if "team" in self.fields else KEEP_TEAM,
        )
        errors = connection_validate(
            connection=self.instance if self.instance.pk else None,
            data=self.connection_input,
            token_policy=self.token_policy,
        )
        self.add_rule_errors(errors)
        return cleaned

    def add_rule_errors(self, errors: dict[str, list[ValidationError]]) -> None:
        """Show the rules' errors on their fields, unless a field's own check already spoke."""
        for name, problems in errors.items():
            if name in self.errors:
                continue
            for problem in problems:
                self.add_error(name if name in self.fields else None, problem)

    def save(
        self,
        commit: bool = True,
        *,
        actor: User | AnonymousUser | None = None,
        source: str | None = None,
    ) -> Connection:
        """Apply the rules and save (commit=False returns the instance as stored, unchanged).

        Raises ValidationError, with the errors added to the form, if the input became invalid
        since ``clean`` (a name taken meanwhile by a simultaneous submission).
        """
        if not commit:
            return self.instance
        if self.connection_input is None:
            raise ValueError("ConnectionForm.save() needs a form that is_valid().")
        moved = Said()
        team = self.connection_input.team
        if (
            self.instance.pk
            and team is not KEEP_TEAM
            and self.instance.team_id != (team.pk if team is not None else None)
        ):
            moved = moved_sentence(self.instance.team, team)
        try:
            result = connection_apply(
                connection=self.instance,
                data=self.connection_input,
                token_policy=self.token_policy,
                actor=actor if actor is not None else self.actor,
                source=source or self.source,
                # The page tests a Token connection right after saving (flows.follow_up_save).
                checks_in_request=True,
                message=moved,
            )
        except ValidationError as exc:
            self.add_rule_errors(exc.error_dict if hasattr(exc, "error_dict") else {"": [exc]})
            raise
        self.changed_fields = list(result.changed)
        return result.connection


class ConnectionAdminForm(ConnectionForm):
    """The connection form with the owner and team fields that operators set (operators
    administer every team, so a change of team here is a move, recorded as one)."""

    source = Source.ADMIN

    class Meta(ConnectionForm.Meta):
        fields = [*ConnectionForm.Meta.fields, "owner", "team"]
        help_texts = {**ConnectionForm.Meta.help_texts, "team": TEAM_HELP}


def form_for_actor(form_class: type[forms.ModelForm], actor: User | AnonymousUser) -> Any:
    """The admin's form class for one operator: the blank-token policy depends on who edits."""
    return type(form_class.__name__, (form_class,), {"actor": actor})


class AuthorizationLinkForm(forms.Form):
    """Make an authorization link: how long it lasts, and optionally whom to email it to."""

    hours = forms.TypedChoiceField(label=_("Usable for"), coerce=int)
    email = forms.EmailField(
        label=_("Email it to"),
        required=False,
        help_text=_("Optional: the Front admin's address. The email names you and the connection."),
    )
    note = forms.CharField(
        label=_("Note"),
        required=False,
        max_length=300,
        validators=[PlainTextValidator()],
        help_text=_("Optional, one line, included in the email and shown on the link's page."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from connections.links import link_hours_choices

        hours = link_hours_choices()
        field = cast(forms.TypedChoiceField, self.fields["hours"])
        field.choices = [
            (value, ngettext("%(count)d hour", "%(count)d hours", value) % {"count": value})
            for value in hours
        ]
        field.initial = hours[-1]
