"""Moving a connection into, out of or between teams (and, in an offboarding, to another
owner): an explicit action with its own history entry, written by ``rules.changes_write``.

Who may move what is ``connections.access.user_may_move``, asked by each caller."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from connections import rules
from connections.models import Connection
from connections.wording import NOTHING, Said, said


def moved_sentence(old_team: Any, new_team: Any, *, owner: User | None = None) -> Said:
    """The history's sentence for a move between teams (and, in an offboarding, owners)."""

    def side(team: Any) -> Said:
        return said("move.team", team=team.name) if team is not None else said("move.own")

    stays = old_team is not None and new_team is not None and old_team.pk == new_team.pk
    sides = {"new": side(new_team)} if stays else {"old": side(old_team), "new": side(new_team)}
    code = "move.stays" if stays else "move.between"
    if owner is not None:
        return said(f"{code}_owned", **sides, owner=owner.get_username())
    return said(code, **sides)


def connection_move(
    *,
    connection: Connection,
    team: Any,
    actor: User | None,
    source: str,
    owner: User | None = None,
    message: Said = NOTHING,
) -> Connection:
    """Move a connection into, out of or between teams (``team`` None: its owner's own), and
    with ``owner`` hand it to another person; one history entry says so.

    The connection keeps its id, tokens and status. Who may move it is
    ``access.user_may_move``, asked by the caller; ValidationError when the name is taken
    where it goes.
    """
    new_owner = owner if owner is not None else connection.owner
    data = rules.ConnectionInput(
        name=connection.name,
        company_name=connection.company_name,
        auth_type=connection.auth_type,
        owner=new_owner,
        oauth_client=connection.oauth_client,
        scopes=frozenset(connection.scopes.all()),
        team=team,
    )
    sentence = message or moved_sentence(
        connection.team, team, owner=owner if owner is not None else None
    )
    result = rules.connection_apply(
        connection=connection,
        data=data,
        token_policy=rules.TokenPolicy.KEEP_IF_BLANK,
        actor=actor,
        source=source,
        message=sentence,
    )
    return result.connection
