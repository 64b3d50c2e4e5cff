"""The commands and the import speak the active language: French under French, English by default.

Commands run in ``settings.LANGUAGE_CODE``; these tests switch to French around ``call_command``
(as a French deployment would) and check the help, summaries, errors and import rows.
"""

from __future__ import annotations

import re
from io import StringIO
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command, load_command_class
from django.utils import translation

from connections import ratelimit
from connections.front_types import FrontError
from connections.health import CheckOutcome, CheckResult
from connections.models import Status
from tests.conftest import API_TOKEN

NBSP = "\u00a0"
HEADER = "name,company_name,auth_type,api_token,oauth_client,scopes,owner\n"
CHECK = "connections.checking.connection_check"


def online(*, connection, actor, source):
    """Stand-in for the check: every connection is online."""
    connection.status = Status.ONLINE
    connection.last_check_result = "Online."
    connection.save()
    return CheckOutcome(connection, CheckResult.ONLINE, connection.last_check_result)


def write(tmp_path: Path, text: str, name: str = "in.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return str(path)


def refused_import(path: str, **options) -> tuple[str, str]:
    err = StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("importconnections", path, stdout=StringIO(), stderr=err, **options)
    return str(excinfo.value), err.getvalue()


def help_text(name: str) -> str:
    parser = load_command_class("connections", name).create_parser("manage.py", name)
    return " ".join(parser.format_help().split())  # argparse wraps lines where it likes


def test_testconnections_prints_its_table_and_summary_in_french(token_connection):
    out = StringIO()
    with mock.patch(CHECK, autospec=True, side_effect=online), translation.override("fr"):
        call_command("testconnections", stdout=out)
    text = out.getvalue()
    assert "NOM" in text and "PROPRIÉTAIRE" in text and "STATUT" in text and "RAISON" in text
    assert "1 connexion testée en " in text
    assert "1 connexion est en ligne." in text
    assert "connection" not in text  # no English left of ours


def test_testconnections_names_nothing_found_in_french(token_connection):
    with translation.override("fr"), pytest.raises(CommandError) as excinfo:
        call_command("testconnections", "Nope", "Other", stdout=StringIO())
    assert str(excinfo.value) == f"Aucune connexion ne correspond à ces noms{NBSP}: Nope, Other."


def test_import_row_errors_and_refusal_are_french(tmp_path, owner):
    path = write(tmp_path, HEADER + f"Support,Acme,token,{API_TOKEN},,,nobody\n")
    with translation.override("fr"):
        error, err = refused_import(path)
    assert f"ligne 2, colonne owner{NBSP}: aucun utilisateur n'a ce nom d'utilisateur" in err
    assert error == (
        f"L'entrée a été refusée (1 problème indiqué ci-dessus){NBSP}; rien n'a été écrit."
    )
    assert API_TOKEN not in err


def test_json_and_size_errors_are_french_with_french_numbers(tmp_path, owner):
    with translation.override("fr"):
        _, err = refused_import(write(tmp_path, '{"name": "A"}', "in.json"), owner="alice")
        assert f"index 0{NBSP}: l'entrée JSON doit être une liste d'objets" in err
        big = write(tmp_path, HEADER + f"A,Acme,token,{API_TOKEN},,,alice\n" * 100)
        _, err = refused_import(big, max_bytes=1000)
    assert f"entrée{NBSP}: l'entrée dépasse la limite de 1{NBSP}000 octets (--max-bytes)" in err


def test_import_summary_is_french(tmp_path, owner):
    out = StringIO()
    path = write(tmp_path, HEADER + f"Support,Acme,token,{API_TOKEN},,,alice\n")
    with translation.override("fr"):
        call_command("importconnections", path, "--dry-run", stdout=out, stderr=StringIO())
    assert re.search(
        rf"Simulation{NBSP}: à créer 1, à mettre à jour 0, inchangées 0, erreurs 0, "
        rf"en \d+,\d\d s{NBSP}; rien n'a été écrit\.",
        out.getvalue(),
    )


def test_pruneevents_counts_in_french_with_french_plurals(db):
    out = StringIO()
    with translation.override("fr"):
        call_command("pruneevents", "--older-than", "1", stdout=out)
    # French counts 0 as singular.
    assert out.getvalue().startswith(
        f"Supprimées{NBSP}: 0 entrée d'historique et 0 transition de statut datant de plus de "
        "1 jour (antérieures au "
    )


def test_command_errors_are_french(db):
    User.objects.create_user(username="bob")
    with translation.override("fr"):
        with pytest.raises(CommandError) as no_owner:
            call_command("exportconnections", "--owner", "nope", stdout=StringIO())
        with pytest.raises(CommandError) as not_operator:
            call_command("createoperator", "--username", "bob", stdout=StringIO())
    assert str(no_owner.value) == f"--owner{NBSP}: aucun utilisateur n'a pour nom 'nope'."
    assert str(not_operator.value) == (
        "Un utilisateur nommé 'bob' existe, mais ce n'est pas un opérateur."
    )


def test_help_is_french_under_french_and_english_by_default():
    english = help_text("importconnections")
    assert "Import connections from a CSV or JSON file" in english
    assert "File to read, or - for standard input." in english
    assert "(default 100000)." in english
    with translation.override("fr"):
        french = help_text("importconnections")
    assert "Importe des connexions depuis un fichier CSV ou JSON" in french
    assert "Fichier à lire, ou - pour l'entrée standard." in french
    assert "(par défaut 100000)." in french


def test_the_rate_budget_refusal_is_french(monkeypatch):
    deferred = ratelimit.Deferred(key="company:x", retry_after=3)
    monkeypatch.setattr(ratelimit, "budget_acquire", lambda key, wait: deferred)
    with pytest.raises(FrontError) as excinfo:
        ratelimit.DatabaseBudget().acquire("company:x")
    # A stored sentence (common.wording): worded when read, in the reader's language.
    assert excinfo.value.message.code == "budget.used_up"
    with translation.override("fr"):
        assert str(excinfo.value) == (
            "La part de FrontConnect dans la limite de débit Front de cette entreprise est "
            f"épuisée{NBSP}: réessayez dans 3 secondes."
        )


def test_english_stays_the_default(tmp_path, owner, token_connection):
    out = StringIO()
    with mock.patch(CHECK, autospec=True, side_effect=online):
        call_command("testconnections", stdout=out)
    assert "NAME" in out.getvalue() and "1 connection is online." in out.getvalue()
    _, err = refused_import(write(tmp_path, HEADER + f"B,Acme,token,{API_TOKEN},,,nobody\n"))
    assert "line 2, column owner: no user has this username" in err
    out = StringIO()
    call_command("pruneevents", "--older-than", "1", stdout=out)
    assert out.getvalue().startswith(
        "Deleted 0 history entries and 0 status transitions older than 1 day (before "
    )
