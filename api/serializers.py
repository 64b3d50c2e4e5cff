"""JSON shapes of the API. Serializers only translate: the rules live in the domain core."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from common.crypto import SecretState, secret_state
from connections import rules
from connections.models import AuthType, Connection, Scope, Status

USERNAME_MAX_LENGTH = rules.max_length_of(get_user_model(), "username")


def _state(value: object) -> str:
    return secret_state(value).value


class OAuthClientRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)


class SecretStatesSerializer(serializers.Serializer):
    """Whether each secret is stored (or stored but unreadable); never the secret itself."""

    api_token = serializers.ChoiceField(choices=SecretState.choices, read_only=True)
    access_token = serializers.ChoiceField(choices=SecretState.choices, read_only=True)
    refresh_token = serializers.ChoiceField(choices=SecretState.choices, read_only=True)


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection as the API shows it: every field but the secrets, which show as states."""

    owner = serializers.CharField(source="owner.username", read_only=True)
    team = serializers.CharField(
        source="team.name",
        read_only=True,
        allow_null=True,
        help_text="The team the connection belongs to, or null for its owner's own.",
    )
    oauth_client = OAuthClientRefSerializer(read_only=True, allow_null=True)
    scopes: serializers.SlugRelatedField[Scope] = serializers.SlugRelatedField(
        slug_field="code", many=True, read_only=True
    )
    secrets = serializers.SerializerMethodField()

    class Meta:
        model = Connection
        fields = [
            "id",
            "name",
            "company_name",
            "auth_type",
            "status",
            "owner",
            "team",
            "oauth_client",
            "scopes",
            "front_company_id",
            "front_company_name",
            "access_token_expires_at",
            "authorized_at",
            "last_checked_at",
            "last_check_result",
            "last_check_result_code",
            "created_at",
            "updated_at",
            "secrets",
        ]
        read_only_fields = fields

    last_check_result = serializers.SerializerMethodField(
        help_text="The last check's sentence, in English (for people; scripts read the code)."
    )
    last_check_result_code = serializers.SerializerMethodField(
        help_text="The stable code of the last check's sentence, e.g. `check.online`."
    )

    def get_last_check_result(self, connection: Connection) -> str:
        return connection.last_check_result.english()

    def get_last_check_result_code(self, connection: Connection) -> str:
        return connection.last_check_result.code

    @extend_schema_field(SecretStatesSerializer)
    def get_secrets(self, connection: Connection) -> dict[str, str]:
        return {name: _state(getattr(connection, name)) for name in Connection.SECRET_FIELDS}


class ConnectionWriteSerializer(serializers.Serializer):
    """What a client sends to create or change a connection (the form's fields, by value)."""

    # Limits are declared once, on the model's fields (read through connections.rules).
    name = serializers.CharField(max_length=rules.NAME_MAX_LENGTH, trim_whitespace=False)
    # Required, as the rules say, with the rules' own sentence; the schema then states minLength.
    company_name = serializers.CharField(
        max_length=rules.COMPANY_NAME_MAX_LENGTH,
        trim_whitespace=False,
        error_messages={"blank": rules.MESSAGES["company_name_required"]},
    )
    auth_type = serializers.ChoiceField(choices=AuthType.choices)
    api_token = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        trim_whitespace=False,
        max_length=rules.API_TOKEN_MAX_LENGTH,
        help_text="Token connections: the API token from Front. Never returned.",
    )
    oauth_client = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        help_text="OAuth 2.0 connections: the id of the OAuth 2.0 client.",
    )
    scopes = serializers.ListField(
        child=serializers.CharField(max_length=rules.max_length_of(Scope, "code")),
        required=False,
        max_length=200,
        help_text="OAuth 2.0 connections: Front scope codes such as conversations:read.",
    )
    owner = serializers.CharField(
        required=False,
        max_length=USERNAME_MAX_LENGTH,
        help_text=(
            "Username of the owner; defaults to the API key's owner when creating, if the key "
            "reaches the owner's connections (otherwise required)."
        ),
    )

    team = serializers.CharField(
        required=False,
        allow_null=True,
        max_length=rules.max_length_of(Connection, "name"),
        help_text=(
            "The name of the team the connection belongs to, or null for its owner's own; a "
            "team's API key creates in its team. Moving a connection between teams (or out of "
            "one) needs a key reaching every connection."
        ),
    )

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        # Only the fields the client sent: PATCH must not mistake an absent field for a blank one.
        return dict(super().to_internal_value(data))


class AccessTokenSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.ChoiceField(choices=["Bearer"])
    expires_at = serializers.DateTimeField(
        allow_null=True,
        help_text="Until when the token is promised to work: its expiry, or FrontConnect's "
        "planned refresh of it if earlier; null for an API token.",
    )


# Built with type(): a field named "fields" would shadow Serializer.fields in a class body.
ErrorSerializer = type(
    "ErrorSerializer",
    (serializers.Serializer,),
    {
        "__doc__": "Every error the API answers: a sentence, and the refused fields if any.",
        "__module__": __name__,
        "error": serializers.CharField(help_text="What went wrong, in a sentence."),
        "fields": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Field name to its error sentences; empty unless the input was refused.",
        ),
    },
)


class ConnectionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.choices, required=False)
    auth_type = serializers.ChoiceField(choices=AuthType.choices, required=False)
    owner = serializers.CharField(required=False, max_length=USERNAME_MAX_LENGTH)
    team = serializers.CharField(
        required=False,
        max_length=rules.max_length_of(Connection, "name"),
        help_text="The connections of the team with this name (its normalised form).",
    )


class AuthorizationLinkOptionsSerializer(serializers.Serializer):
    """What a service may choose for an authorization link."""

    expires_in = serializers.IntegerField(
        required=False,
        min_value=60,
        # The setting's own upper bound (720 hours); the setting in force is checked after.
        max_value=720 * 3600,
        help_text="Seconds the link stays usable (at least 60; at most "
        "FRONTCONNECT_AUTHORIZATION_LINK_HOURS, 72 hours by default, which is also the default).",
    )
    return_url = serializers.URLField(
        required=False,
        max_length=2000,
        help_text="Where the browser goes after the flow, with `?connection=ID&result="
        "authorized|cancelled|failed` added. Its origin must be one of the key's allowed return "
        "origins.",
    )


class AuthorizationLinkSerializer(serializers.Serializer):
    """A link just made: the URL holds its secret and is shown this once."""

    url = serializers.URLField(read_only=True, help_text="The single-use link to send.")
    expires_at = serializers.DateTimeField(read_only=True)
