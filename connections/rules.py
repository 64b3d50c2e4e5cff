"""The rules of a connection, in one place: what a valid connection is and what a change does.

Every way in translates its input into a ``ConnectionInput`` and calls this module: the
connection form (admin and self-service pages), the import (``connections.bulk``) and the service
API. Nothing else decides these rules.

- Name and company name are required, fit their columns and contain no control characters
  (``PlainTextValidator``). Names are unique per owner as compared by ``common.text.name_key``
  (NFKC, case-folded, invisible characters removed), which the database enforces too; a team's
  connections are unique within the team instead.
- A Token connection needs an API token of printable ASCII (``SecretTextValidator``); a client and
  scopes sent with it are dropped.
- An OAuth 2.0 connection needs a client and at least one scope; a stored API token is deleted.
- Changing the auth type or the client of a saved connection voids what the old way of signing in
  proved: the OAuth tokens and the Front company are cleared and the status becomes Not authorized
  (through ``connections.status``, the one writer of status).
- A new or changed API token leaves the connection Not checked yet (the old check's sentence and
  Front company cleared) and is checked once the change commits, whichever way it came in: the
  form tests it right away, the API and the import queue it for the worker (``changes_write``).
- Every change, one or an import's thousands, is written by ``changes_write``.

Blank secrets on edit, one policy:

- An OAuth client's secret left blank (absent or empty) keeps the stored one
  (``oauthclients.forms.OAuthClientForm``).
- An API token left blank follows the ``TokenPolicy`` that ``token_policy_for`` chooses from who
  is editing: ``REQUIRE_ON_EDIT`` when members edit their own connection (self-service, or staff
  on their own connection in the admin), as the product promises; ``KEEP_IF_BLANK`` for operators
  (staff on someone else's connection, the import with ``--update``, the API), who may change the
  name, owner or company without knowing the member's token. A new Token connection, or one
  switched to Token, always needs a token.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from common.crypto import sealed_value
from common.text import PlainTextValidator, SecretTextValidator, name_key
from connections import lifecycle
from connections.models import (
    NAME_KEY_MAX_LENGTH,
    Action,
    AuthType,
    Connection,
    Scope,
    Source,
    Status,
)
from connections.wording import NOTHING, Said, said
from oauthclients.models import OAuthClient


def max_length_of(model: type[models.Model], name: str) -> int:
    """A column's limit, declared once on the model field; the form and the API read it here."""
    column = model._meta.get_field(name)
    if not isinstance(column, models.Field) or column.max_length is None:
        raise TypeError(f"{model.__name__}.{name} declares no max_length")
    return int(column.max_length)


def _max_length(name: str) -> int:
    return max_length_of(Connection, name)


API_TOKEN_MAX_LENGTH = _max_length("api_token")
NAME_MAX_LENGTH = _max_length("name")
COMPANY_NAME_MAX_LENGTH = _max_length("company_name")
VOIDED_REASON = said("sign_in.voided")
UNCHECKED_REASON = said("sign_in.unchecked")
# Rows per statement when many changes are written at once (the import).
BULK_SIZE = 1000

Actor = User | AnonymousUser | None
Errors = dict[str, list[ValidationError]]

MESSAGES = {
    "name_required": _("Enter a name for the connection."),
    "company_name_required": _("Enter the company name."),
    "max_length": _("Use at most %(limit)d characters (it has %(length)d)."),
    "auth_type_invalid": _("Choose the auth type: token (Token) or oauth2 (OAuth 2.0)."),
    "api_token_required": _(
        "Enter the API token from Front. A Token connection needs an API token."
    ),
    "api_token_required_on_edit": _(
        "Enter the API token from Front. For your security it must be "
        "entered again every time a Token connection is saved."
    ),
    "oauth_client_required": _("Choose the OAuth 2.0 client (the Front app) to sign in with."),
    "scopes_required": _("Choose at least one scope."),
    "name_taken": _(
        "A connection with this name already exists for this owner. Names are unique "
        "per owner, ignoring upper and lower case and look-alike characters."
    ),
    "name_taken_in_team": _(
        "This team already has a connection with this name. Names are unique "
        "within a team, ignoring upper and lower case and look-alike characters."
    ),
    "owner_required": _("Choose the owner of the connection."),
}

_plain_text = PlainTextValidator()
_api_token_text = SecretTextValidator(_("The API token"))


class TokenPolicy(enum.Enum):
    """What a blank API token means when a saved Token connection is edited."""

    REQUIRE_ON_EDIT = "require_on_edit"
    KEEP_IF_BLANK = "keep_if_blank"


def token_policy_for(*, actor: Actor, source: str, owner_id: int | None) -> TokenPolicy:
    """The one place that decides the blank-token policy from who edits, and how."""
    if source == Source.SELF_SERVICE:
        return TokenPolicy.REQUIRE_ON_EDIT
    editing_own = actor is not None and actor.is_authenticated and actor.pk == owner_id
    if source == Source.ADMIN and editing_own:
        return TokenPolicy.REQUIRE_ON_EDIT
    return TokenPolicy.KEEP_IF_BLANK


class _KeepTeam:
    """``ConnectionInput.team`` when the caller does not speak of the team: a saved connection
    stays where it is, a new one is its owner's own."""

    def __repr__(self) -> str:
        return "KEEP_TEAM"

    def __bool__(self) -> bool:
        return False


KEEP_TEAM: Any = _KeepTeam()


@dataclass(frozen=True)
class ConnectionInput:
    """A requested state of a connection, as a caller translated it; api_token None is blank."""

    name: str
    company_name: str
    auth_type: str
    owner: User | None
    api_token: str | None = None
    oauth_client: OAuthClient | None = None
    scopes: frozenset[Scope] = field(default_factory=frozenset)
    # The team the connection belongs to (None: its owner's own; KEEP_TEAM: unchanged). Who
    # may place or move it there is asked of connections.access by each caller.
    team: Any = KEEP_TEAM

    def team_for(self, connection: Connection | None) -> Any:
        """The team the connection will belong to (None: its owner's own)."""
        if self.team is KEEP_TEAM:
            return connection.team if connection is not None and connection.pk else None
        return self.team


@dataclass(frozen=True)
class Stored:
    """What the rules need to know about a saved connection, read without decrypting anything."""

    pk: int
    auth_type: str
    oauth_client_id: int | None
    has_api_token: bool

    @classmethod
    def of(cls, connection: Connection) -> Stored:
        # The sealed (still encrypted) value says whether a token is stored without opening it.
        raw = sealed_value(connection, "api_token")
        has_token = raw is not None and not (isinstance(raw, str) and raw == "")
        return cls(connection.pk, connection.auth_type, connection.oauth_client_id, has_token)


@dataclass(frozen=True)
class ChangeResult:
    """What connection_apply did: the saved connection, whether it is new, the input it changed."""

    connection: Connection
    created: bool
    changed: tuple[str, ...]


def _error(errors: Errors, name: str, code: str, **params: int) -> None:
    message = MESSAGES["max_length"] if code == "max_length" else MESSAGES[code]
    errors.setdefault(name, []).append(ValidationError(message, code=code, params=params or None))


def _text_errors(errors: Errors, name: str, value: str, limit: int) -> None:
    if not value.strip():
        _error(errors, name, f"{name}_required")
    elif len(value) > limit:
        _error(errors, name, "max_length", limit=limit, length=len(value))
    try:
        _plain_text(value)
    except ValidationError as exc:
        errors.setdefault(name, []).append(exc)


def connection_check(
    *, stored: Stored | None, data: ConnectionInput, token_policy: TokenPolicy
) -> Errors:
    """Every rule that needs no query: field errors by field name (empty when valid)."""
    errors: Errors = {}
    _text_errors(errors, "name", data.name, NAME_MAX_LENGTH)
    _text_errors(errors, "company_name", data.company_name, COMPANY_NAME_MAX_LENGTH)
    if len(name_key(data.name)) > NAME_KEY_MAX_LENGTH:
        _error(errors, "name", "max_length", limit=NAME_MAX_LENGTH, length=len(data.name))
    if data.owner is None:
        _error(errors, "owner", "owner_required")
    if data.auth_type == AuthType.TOKEN:
        token = data.api_token or ""
        if len(token) > API_TOKEN_MAX_LENGTH:
            _error(errors, "api_token", "max_length", limit=API_TOKEN_MAX_LENGTH, length=len(token))
        elif token:
            try:
                _api_token_text(token)
            except ValidationError as exc:
                errors.setdefault("api_token", []).append(exc)
        elif stored is None or stored.auth_type != AuthType.TOKEN or not stored.has_api_token:
            _error(errors, "api_token", "api_token_required")
        elif token_policy is TokenPolicy.REQUIRE_ON_EDIT:
            _error(errors, "api_token", "api_token_required_on_edit")
    elif data.auth_type == AuthType.OAUTH2:
        if data.oauth_client is None:
            _error(errors, "oauth_client", "oauth_client_required")
        if not data.scopes:
            _error(errors, "scopes", "scopes_required")
    else:
        _error(errors, "auth_type", "auth_type_invalid")
    return errors


def _name_taken(*, connection: Connection | None, data: ConnectionInput) -> bool:
    team = data.team_for(connection)
    if team is not None:
        taken = Connection.objects.filter(team=team, name_key=name_key(data.name))
    elif data.owner is None:
        return False
    else:
        taken = Connection.objects.filter(
            owner=data.owner, team__isnull=True, name_key=name_key(data.name)
        )
    if connection is not None and connection.pk is not None:
        taken = taken.exclude(pk=connection.pk)
    return taken.exists()


def _owner_lock(owner: User | None) -> None:
    # A caller that validates and saves in one transaction (the admin) gets its submissions for
    # one owner checked one after the other, so the second sees the first's name in words, not
    # as an IntegrityError at save. Outside a transaction there is nothing to hold the lock.
    if owner is not None and transaction.get_connection().in_atomic_block:
        list(User.objects.select_for_update().filter(pk=owner.pk).values_list("pk", flat=True))


def connection_validate(
    *, connection: Connection | None, data: ConnectionInput, token_policy: TokenPolicy
) -> Errors:
    """All the rules, the name's uniqueness included: field errors by field name."""
    stored = Stored.of(connection) if connection is not None and connection.pk else None
    errors = connection_check(stored=stored, data=data, token_policy=token_policy)
    if "name" not in errors and "owner" not in errors:
        _owner_lock(data.owner)
        if _name_taken(connection=connection, data=data):
            in_team = data.team_for(connection) is not None
            _error(errors, "name", "name_taken_in_team" if in_team else "name_taken")
    return errors


@dataclass(frozen=True)
class Verdict:
    """The status a change decides by itself, through the status door, with its reason."""

    status: Status
    reason: Said


def connection_build(data: ConnectionInput, *, now: datetime) -> Connection:
    """A new, unsaved connection from valid input: what connection_assign gives on a blank one."""
    connection = Connection()
    connection_assign(connection, data, now=now)
    return connection


def connection_assign(
    connection: Connection, data: ConnectionInput, *, now: datetime
) -> tuple[list[str], Verdict | None]:
    """Copy valid input onto a connection in memory (no save).

    Returns the model fields it changed and the status the change itself decides for a saved
    connection, if any: a changed API token leaves it Not checked yet (Front is asked on
    commit), a changed auth type or client voids the sign-in (Not authorized). Either replaces
    the last check's sentence, which spoke of the old credential. A new Token connection starts
    Not checked yet (its first status, set as the row is created). The caller sets the status.
    """
    changed: list[str] = []

    def assign(name: str, value: object) -> None:
        if getattr(connection, name) != value:
            setattr(connection, name, value)
            changed.append(name)

    assign("name", data.name)
    if "name" in changed:
        assign("name_key", name_key(data.name))
    assign("company_name", data.company_name)
    if data.owner is not None:
        assign("owner_id", data.owner.pk)
        if connection.pk is None:
            connection.owner = data.owner
    if data.team is not KEEP_TEAM:
        assign("team_id", data.team.pk if data.team is not None else None)
        if data.team is not None:
            connection.team = data.team
    client = data.oauth_client if data.auth_type == AuthType.OAUTH2 else None
    voided = connection.pk is not None and (
        connection.auth_type != data.auth_type
        or connection.oauth_client_id != (client.pk if client else None)
    )
    assign("auth_type", data.auth_type)
    assign("oauth_client_id", client.pk if client else None)
    if data.auth_type == AuthType.TOKEN and data.api_token:
        if connection.pk is None or connection.api_token != data.api_token:
            connection.api_token = data.api_token
            changed.append("api_token")
    elif data.auth_type == AuthType.OAUTH2 and Stored.of(connection).has_api_token:
        connection.api_token = ""
        changed.append("api_token")
    if "api_token" in changed:
        connection.api_token_changed_at = now
        changed.append("api_token_changed_at")
    verdict: Verdict | None = None
    if connection.pk is None:
        if data.auth_type == AuthType.TOKEN:
            connection.status = Status.UNCHECKED
            connection.last_check_result = UNCHECKED_REASON
    elif data.auth_type == AuthType.TOKEN and (voided or "api_token" in changed):
        verdict = Verdict(Status.UNCHECKED, UNCHECKED_REASON)
    elif voided:
        verdict = Verdict(Status.NOT_AUTHORIZED, VOIDED_REASON)
    if voided:
        changed += connection.tokens_clear()
    if verdict is not None:
        # What Front said about the old credential no longer describes this one.
        connection.front_company_id = connection.front_company_name = ""
        connection.last_check_result = verdict.reason
        connection.last_checked_at = connection.unreachable_since = None
        changed += [
            "front_company_id", "front_company_name", "last_check_result", "last_checked_at",
            "unreachable_since",
        ]  # fmt: skip
    if voided or "api_token" in changed:
        # The sign-in changed: verdicts and token writes made for the old one no longer count.
        changed += connection.credential_change()
    renamed = {"oauth_client_id": "oauth_client", "owner_id": "owner", "team_id": "team"}
    return [renamed.get(f, f) for f in dict.fromkeys(changed)], verdict


# Columns a change writes as a consequence, not as input: history entries list only the input.
_CONSEQUENCES = {
    "api_token_changed_at",
    "credential_version",
    "name_key",
    *Connection.GRANT_FIELDS,
    "front_company_id",
    "front_company_name",
    "last_check_result",
    "last_checked_at",
}


def input_fields(columns: Iterable[str]) -> list[str]:
    """The fields a caller changed, for the history, from the columns connection_assign wrote."""
    return sorted({c for c in columns if c not in _CONSEQUENCES})


def scopes_for(data: ConnectionInput) -> frozenset[Scope]:
    """The scopes a connection keeps: none for a Token connection."""
    return data.scopes if data.auth_type == AuthType.OAUTH2 else frozenset()


@dataclass
class Change:
    """One connection with a change assigned in memory (``connection_assign``), to be written."""

    connection: Connection
    created: bool
    fields: list[str]  # the columns assigned, and "scopes" when the scopes change
    scopes: frozenset[Scope]
    verdict: Verdict | None = None


def changes_write(
    changes: Sequence[Change],
    *,
    actor: Actor,
    source: str,
    now: datetime,
    imported: bool = False,
    checks_in_request: bool = False,
    message: Said = NOTHING,
) -> None:
    """Write assigned changes, one (a form, the API) or a batch (the import), in one way.

    New rows are inserted and changed rows written in their changed columns only (a token
    refreshed meanwhile is never overwritten), then scopes, the statuses the changes decide
    (through ``connections.status``), and one history entry per row. Every credential left Not
    checked yet is checked once the transaction commits: by the caller right away when it says
    so (``checks_in_request``: the form tests after saving), else by the worker, which checks
    them concurrently within each company's rate budget (``tasks.connections_check_queue``).
    ``message`` is the history entry's sentence for every changed row (a move, an offboarding).
    Call inside a transaction.
    """
    from connections.events import event_build, events_record
    from connections.status import connection_status_set

    new = [c for c in changes if c.created]
    changed = [c for c in changes if not c.created and c.fields]
    Connection.objects.bulk_create([c.connection for c in new], batch_size=BULK_SIZE)
    groups: dict[tuple[str, ...], list[Connection]] = {}
    for change in changed:
        columns = tuple(sorted(f for f in change.fields if f != "scopes"))
        if columns:
            change.connection.updated_at = now
            groups.setdefault(columns, []).append(change.connection)
    for columns, rows in groups.items():
        Connection.objects.bulk_update(rows, [*columns, "updated_at"], batch_size=BULK_SIZE // 2)
        if "credential_version" in columns:
            # Bumped in SQL (``Connection.credential_change``): read the stored numbers back.
            stored = dict(
                Connection.objects.filter(pk__in=[c.pk for c in rows]).values_list(
                    "pk", "credential_version"
                )
            )
            for row in rows:
                row.credential_version = stored[row.pk]
    through = Connection.scopes.through
    relinked = [c for c in changed if "scopes" in c.fields]
    if relinked:
        through.objects.filter(connection_id__in=[c.connection.pk for c in relinked]).delete()
        for change in relinked:  # as scopes.set() would: no stale prefetched scopes remain
            getattr(change.connection, "_prefetched_objects_cache", {}).pop("scopes", None)
    through.objects.bulk_create(
        [
            through(connection_id=c.connection.pk, scope_id=scope.pk)
            for c in [*new, *relinked]
            for scope in c.scopes
        ],
        batch_size=BULK_SIZE,
    )
    for change in changed:
        if change.verdict is not None:
            connection_status_set(
                connection=change.connection,
                status=change.verdict.status,
                reason=change.verdict.reason,
                source=source,
                actor=actor,
            )

    def entry(change: Change) -> Any:
        if imported:
            action = Action.IMPORTED
            sentence = said(
                "history.imported_new" if change.created else "history.imported_changed"
            )
        else:
            action = Action.CREATED if change.created else Action.UPDATED
            sentence = Said() if change.created else message
        return event_build(
            connection=change.connection, action=action, source=source, actor=actor,
            message=sentence, fields=input_fields(change.fields), created_at=now,
        )  # fmt: skip

    events_record([entry(c) for c in [*new, *changed]])
    lifecycle.lifecycle_emit_many(
        lifecycle.CREATED, [change.connection for change in new], source=str(source)
    )
    unchecked = [
        c.connection.pk
        for c in [*new, *changed]
        if c.connection.status == Status.UNCHECKED and (c.created or c.verdict is not None)
    ]
    if unchecked and not checks_in_request:
        transaction.on_commit(lambda: _checks_queue(unchecked))


def _checks_queue(ids: list[int]) -> None:
    from connections.tasks import connections_check_queue

    connections_check_queue(ids)


def connection_apply(
    *,
    connection: Connection | None,
    data: ConnectionInput,
    token_policy: TokenPolicy,
    actor: Actor,
    source: str,
    checks_in_request: bool = False,
    message: Said = NOTHING,
) -> ChangeResult:
    """Validate, apply and save a change (scopes and history included); ValidationError if invalid.

    ``connection`` is the saved row to change, or None (or an unsaved instance) to create one.
    Only the changed columns are written, so a token refreshed meanwhile is never overwritten.
    A new or changed API token leaves the connection Not checked yet and is checked on commit
    (see ``changes_write``; ``checks_in_request`` when the caller tests it right after).
    """
    errors = connection_validate(connection=connection, data=data, token_policy=token_policy)
    if errors:
        raise ValidationError(errors)
    connection = connection if connection is not None else Connection()
    created = connection.pk is None
    old_scopes = set() if created else set(connection.scopes.all())
    now = timezone.now()
    changed, verdict = connection_assign(connection, data, now=now)
    scopes = scopes_for(data)
    if old_scopes != set(scopes):
        changed.append("scopes")
    change = Change(connection, created, changed, scopes, verdict)
    try:
        with transaction.atomic():
            if created or changed:
                changes_write(
                    [change], actor=actor, source=source, now=now,
                    checks_in_request=checks_in_request, message=message,
                )  # fmt: skip
    except IntegrityError:
        # Two submissions of one new name: the loser hears "name taken", as if it came second.
        if created:
            connection.pk = None
        if not _name_taken(connection=connection, data=data):
            raise
        code = "name_taken_in_team" if data.team_for(connection) is not None else "name_taken"
        raise ValidationError({"name": [ValidationError(MESSAGES[code], code=code)]}) from None
    return ChangeResult(
        connection=connection, created=created, changed=tuple(input_fields(changed))
    )


def field_errors(errors: Errors) -> Iterable[tuple[str, str]]:
    """(field, message) pairs of a validation result, for callers that report in lines."""
    for name, problems in errors.items():
        for problem in problems:
            for message in problem.messages:
                yield name, message


def name_keys_refill(model: type[Connection]) -> int:
    """Give every row the name key of today's ``name_key``; returns how many rows changed.

    For a migration after the comparison learns more look-alikes: two names of one owner that
    only now count as the same keep both rows, the later one renamed ``<name> (2)``, ``(3)``…
    Rows whose key stays reserve it first, so no update meets a key still held by another row.
    """
    rows = list(
        model.objects.order_by("owner_id", "pk").values_list("pk", "owner_id", "name", "name_key")
    )
    taken = {(owner_id, key) for _pk, owner_id, name, key in rows if name_key(name) == key}
    changed = 0
    for pk, owner_id, name, key in rows:
        if name_key(name) == key:
            continue
        new_name, new_key, n = name, name_key(name), 1
        while (owner_id, new_key) in taken:
            n += 1
            suffix = f" ({n})"
            new_name = name[: NAME_MAX_LENGTH - len(suffix)] + suffix
            new_key = name_key(new_name)
        taken.add((owner_id, new_key))
        model.objects.filter(pk=pk).update(name=new_name, name_key=new_key)
        changed += 1
    return changed
