"""How a connection's status reads inside a sentence, written once for pages, messages and emails.

A status is a name ("Needs reauthorization"); a sentence needs a predicate ("it needs
reauthorization", never "it is Needs reauthorization").
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from common.wording import NOTHING, Said, said, sentences

__all__ = ["NOTHING", "Said", "check_note", "check_reason", "said", "status_predicate"]

from connections.models import Connection, Status

PREDICATES: dict[str, Promise] = {
    Status.NOT_AUTHORIZED: _("is not authorized"),
    Status.UNCHECKED: _("is not checked yet"),
    Status.ONLINE: _("is Online"),
    Status.OFFLINE: _("is Offline"),
    Status.REAUTHORIZE: _("needs reauthorization"),
}


def status_predicate(status: str) -> str:
    """The status as the end of a sentence about a connection: "is Online", "needs …"."""
    predicate = PREDICATES.get(status)
    return str(predicate) if predicate is not None else str(_("is %(status)s") % {"status": status})


# Sentences that begin with the status, and the same without it (a badge names the status).
_WITHOUT_STATUS = {"check.online": "check.online_note", "authorize.online": "authorize.online_note"}


def check_note(connection: Connection) -> Said:
    """The last check's sentence without the status that the badge beside it already names."""
    result = connection.last_check_result
    if result.code in _WITHOUT_STATUS:
        return Said(_WITHOUT_STATUS[result.code], result.params)
    return result


def check_reason(message: Said) -> Said:
    """Why a check could not be made, without its "Could not check:" opening."""
    if message.code == "check.could_not" and isinstance(message.params.get("error"), dict):
        return Said.of(message.params["error"])
    return message


# The sentences that history entries, status changes, check results and link results store as
# codes (``common.wording``): rendered when read, in the reader's language and time zone.
SENTENCES = sentences(
    {
        # Front's answers (connections.front): FrontError carries one of these.
        "front.token_request": _("the token request"),
        "front.not_https": _(
            "FrontConnect talks to Front only over https, but the URL for %(what)s is not https "
            "(%(host)s); fix the Front URLs in the settings."
        ),
        "front.unreachable": _(
            "Could not reach Front at %(host)s (%(what)s); check the network and the Front URLs "
            "in the settings."
        ),
        "front.unreachable_later": _(
            "Could not reach Front at %(host)s (%(what)s); try again later."
        ),
        "front.timeout": _("Front did not answer %(what)s within %(seconds)s; try again later."),
        "front.malformed": _("Front's answer to %(what)s was malformed (%(error)s)."),
        "front.rate_limited": _(
            "Front is rate limiting requests for this company: try again in a minute."
        ),
        "front.rate_limited_for": _(
            "Front is rate limiting requests for this company: try again in %(seconds)s."
        ),
        "front.unavailable": _(
            "Front is unavailable right now (HTTP %(status)s from %(what)s); try again in a few "
            "minutes."
        ),
        "front.redirect": _(
            "Front answered %(what)s with a redirect (HTTP %(status)s), which FrontConnect does "
            "not follow; check the Front URLs in the settings."
        ),
        "front.refused": _("Front refused %(what)s (HTTP %(status)s)."),
        "front.refused_because": _("Front refused %(what)s (HTTP %(status)s: %(detail)s)."),
        "front.refused_error": _("Front refused %(what)s (%(error)s)."),
        "front.token_unsendable": _(
            "The stored token contains characters that Front never issues (only printable ASCII "
            "without spaces), so it cannot be sent: enter it again, or authorize again."
        ),
        "front.no_company": _("Front's answer to GET /me was malformed: it names no company."),
        "front.token_rejected": _("Front rejected the token."),
        "front.token_rejected_because": _("Front rejected the token (%(detail)s)."),
        "front.token_forbidden": _("The token lacks a permission Front requires."),
        "front.token_forbidden_because": _(
            "The token lacks a permission Front requires (%(detail)s)."
        ),
        "front.outside_api": _("That path is outside Front's API."),
        "front.no_access_token": _("Front's token response was malformed: it has no access token."),
        "front.not_bearer": _(
            "Front's token response was malformed: the token type is not Bearer."
        ),
        "front.refresh_not_text": _(
            "Front's token response was malformed: the refresh token is not text."
        ),
        "front.expiry_not_time": _(
            "Front's token response was malformed: the expiry is not a time."
        ),
        "front.not_json": _("Front's token response was malformed: it is not a JSON object."),
        "front.invalid_grant": _(
            "Front no longer accepts this authorization (it expired, was already used or was "
            "revoked): authorize the connection again."
        ),
        "front.invalid_client": _(
            "Front refused the OAuth 2.0 client's credentials (invalid_client). FrontConnect sent "
            "the client ID and secret as RFC 6749 requires, encoded for HTTP Basic, so any "
            "character is fine: make sure they are this Front app's current ID and secret."
        ),
        "front.client_unsendable": _(
            "The OAuth 2.0 client's ID or secret contains characters Front never issues (only "
            "printable ASCII without spaces): enter them again on the client's page."
        ),
        "secret.unreadable": _(
            "cannot decrypt the stored %(what)s with FRONTCONNECT_ENCRYPTION_KEY or its "
            "fallbacks: enter it again, or fix the key."
        ),
        "secret.refresh_token": _("refresh token"),
        "secret.client_secret": _("client secret of the OAuth 2.0 client"),
        "secret.api_token": _("API token"),
        "token.refresh_busy_now": _(
            "Another process is refreshing this connection's access token right now."
        ),
        "token.refresh_busy": _(
            "This connection's access token is being refreshed by another process; try again in "
            "a moment."
        ),
        "token.refresh_gave_up": _(
            "The access token could not be refreshed just now; try again in a moment."
        ),
        "token.changed_while_refreshing": _(
            "The connection changed while its access token was being refreshed; try again."
        ),
        "token.no_api_token": _("No readable API token is stored: enter it again."),
        "token.not_oauth": _("Only OAuth 2.0 connections have tokens to refresh."),
        "budget.used_up": _(
            "FrontConnect's share of this company's Front rate limit is used up: try again in "
            "%(seconds)s."
        ),
        # The encryption key (connections.keys): shown on the refusal page and by commands.
        "key.sample_unreadable": ngettext_lazy(
            "FRONTCONNECT_ENCRYPTION_KEY cannot decrypt the %(sampled)d secret sampled from this "
            "database, so it is not the key it was written with: restore that key, or list it in "
            "FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS.",
            "FRONTCONNECT_ENCRYPTION_KEY cannot decrypt any of the %(sampled)d secrets sampled "
            "from this database, so it is not the key they were written with: restore that key, "
            "or list it in FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS.",
            "sampled",
        ),
        "key.not_this_one": _(
            "FRONTCONNECT_ENCRYPTION_KEY is not the key this database's secrets were written with "
            "(expected the key with fingerprint %(fingerprint)s): restore that key, or list it in "
            "FRONTCONNECT_ENCRYPTION_KEY_FALLBACKS while you rotate."
        ),
        # What /healthz says (English there; worded for the reader on the admin's dashboard).
        "health.unreachable": _("unreachable"),
        "health.database_unknown": _("unknown: the database is unreachable"),
        "health.key_mismatch": _(
            "mismatch: FRONTCONNECT_ENCRYPTION_KEY is not the key this database's secrets were "
            "written with, so no page is served"
        ),
        "health.no_heartbeat": _(
            "no heartbeat yet: is the worker running (celery -A frontconnect worker)?"
        ),
        "health.stale_heartbeat": ngettext_lazy(
            "stale: the last heartbeat was %(minutes)d minute ago",
            "stale: the last heartbeat was %(minutes)d minutes ago",
            "minutes",
        ),
        "health.no_scheduler": _(
            "none: no scheduler is running, so no periodic task is sent (start celery -A "
            "frontconnect beat)"
        ),
        "health.two_schedulers": _(
            "2 schedulers competing: %(holder)s sends the periodic tasks and %(contender)s is "
            "refused; stop the second one"
        ),
        # Checks (connections.health, connections.checking).
        "check.online": _("Online: Front company %(company)s."),
        "check.online_note": _("Front company %(company)s."),
        "check.other_company": _(
            "The token belongs to Front company “%(company)s”, not to the one recorded for this "
            "connection: authorize it again."
        ),
        "check.could_not": _("Could not check: %(error)s"),
        "check.unreachable_for": ngettext_lazy(
            "Front has been unreachable for more than %(minutes)d minute: %(error)s",
            "Front has been unreachable for more than %(minutes)d minutes: %(error)s",
            "minutes",
        ),
        "check.no_answer": _("Front gave no answer."),
        "check.changed_meanwhile": _(
            "Not checked: the connection's sign-in changed while Front was being asked; the new "
            "one is checked next."
        ),
        "check.out_of_time": _(
            "Not checked: no time was left in this request; the worker checks it on schedule."
        ),
        "check.deferred": _(
            "Not checked: FrontConnect's share of this company's Front rate limit is used up; "
            "room again in %(seconds)s."
        ),
        "check.failed": _("Could not be tested (%(error)s); see the log."),
        # Tokens and statuses (connections.tokens, connections.rules, connections.status).
        "token.renewed": _("Access token renewed until %(until_at)s."),
        "token.renewed_elsewhere": _(
            "Front issued new tokens, but the connection was refreshed elsewhere, authorized "
            "again, disconnected or changed meanwhile, so they were not stored."
        ),
        "token.not_authorized_yet": _(
            "Not authorized yet: use Save and authorize to sign in to Front."
        ),
        "token.reauthorize": _(
            "Front no longer accepts this connection's authorization: authorize it again."
        ),
        "token.interrupted": _(
            "Interrupted refresh: a token refresh was interrupted before the new tokens Front "
            "issued could be saved, so Front no longer accepts this connection's authorization. A "
            "Front company admin must authorize it again with Save and authorize."
        ),
        "token.api_unchecked": _(
            "The API token is not checked yet and Front could not be asked now (%(reason)s); try "
            "again later."
        ),
        "token.api_refused": _(
            "Front refused this connection's API token (it %(status)s): enter a new one before "
            "asking for it."
        ),
        **{f"predicate.{status}": predicate for status, predicate in PREDICATES.items()},
        "token.refresh_failed": _("token refresh failed: %(error)s"),
        "sign_in.voided": _(
            "The way of signing in changed (auth type or OAuth 2.0 client): authorize again."
        ),
        "sign_in.unchecked": _(
            "Not checked yet: the API token is new or changed; Front is asked shortly."
        ),
        "sign_in.disconnected": _("Disconnected: the OAuth 2.0 tokens were deleted."),
        "verdict.superseded": _(
            "Not applied: the connection's sign-in changed while this was under way, so the "
            "verdict is about a credential it no longer uses (%(verdict)s)"
        ),
        "verdict.status": _("%(status)s: %(reason)s"),
        # A status's name inside a sentence (its label; connections.models.Status).
        **{f"status.{status.value}": status.label for status in Status},
        "verdict.not_checked": _("not checked: %(reason)s"),
        "verdict.authorization_not_stored": _("authorization not stored"),
        # Authorizations (connections.authorization).
        "authorize.refused": _("Front did not authorize (%(error)s)."),
        "authorize.refused_silently": _("Front did not authorize (no reason given)."),
        "authorize.done": _("Authorized for Front company %(company)s (%(company_id)s)."),
        "authorize.done_by_link": _(
            "Authorized for Front company %(company)s (%(company_id)s) through the authorization "
            "link made by %(requester)s."
        ),
        "authorize.no_client": _("Only OAuth 2.0 connections with a client can be authorized."),
        "authorize.client_unreadable": _(
            "The OAuth 2.0 client “%(client)s” has no readable client secret: enter it again on "
            "the client's page."
        ),
        "authorize.return_elsewhere": _("The page to return to after Front is not on this site."),
        "authorize.again_form": _("Start again with Save and authorize."),
        "authorize.again_link": _("Ask for a new authorization link."),
        "authorize.no_state": _(
            "Front's reply carries no state, so it cannot be matched to an authorization started "
            "here. Nothing was changed. %(again)s"
        ),
        "authorize.unknown": _(
            "This authorization reply is unknown here. Nothing was changed. %(again)s"
        ),
        "authorize.other_host": _(
            "This authorization was started at %(started)s, but Front returns to %(base)s "
            "(FRONTCONNECT_BASE_URL), a different address where your browser has no session, so "
            "it was refused. Nothing was changed. Open FrontConnect at %(base)s, sign in there "
            "and start again."
        ),
        "authorize.other_session": _(
            "This authorization was started by another user or in another browser session, so "
            "it was refused. Nothing was changed. %(again)s"
        ),
        "authorize.used": _(
            "This authorization reply was already used. Nothing was changed. %(again)s"
        ),
        "authorize.expired": _(
            "This authorization took longer than 10 minutes and has expired. Nothing was "
            "changed. %(again)s"
        ),
        "authorize.no_longer_yours": _("You may no longer change this connection."),
        "authorize.link_maker_left": _(
            "Whoever made this link may no longer change this connection. Nothing was changed."
        ),
        "authorize.not_from_front": _("The reply did not come from Front's sign-in page; refused."),
        "authorize.no_code": _("Front's reply carries no authorization code. Start again."),
        "authorize.cancelled": _(
            "Front did not authorize the connection: the sign-in was cancelled, or the Front user "
            "is not a company admin (only Front admins can authorize apps). Nothing was changed."
        ),
        "authorize.refused_nothing_changed": _(
            "Front refused the authorization (%(error)s). Nothing was changed."
        ),
        "authorize.failed_here": _(
            "Something went wrong on FrontConnect's side while finishing the authorization; it "
            "has been logged and nothing was changed."
        ),
        "authorize.incomplete": _("The authorization did not complete: %(error)s"),
        "authorize.wrong_company": _(
            "You authorized Front company “%(company)s”, but this connection belongs to "
            "“%(bound)s”; the connection keeps its previous authorization. Sign in to the right "
            "Front company, or create a new connection for this one."
        ),
        "authorize.online": _("Online: authorized for Front company %(company)s."),
        "authorize.online_note": _("Authorized for Front company %(company)s."),
        "authorize.changed_in_front": _(
            "The connection changed while you were in Front (its sign-in was changed, authorized "
            "again or disconnected meanwhile), so this authorization was not stored. Nothing was "
            "changed. Start again with Save and authorize."
        ),
        # History (connections.history, moves, rules, keys, links).
        "history.deleted_with_owner": _("Deleted together with its owner’s account (%(owner)s)."),
        "history.deleted_with_account": _("Deleted together with its owner’s account."),
        "history.imported_new": _("Created by import."),
        "history.imported_changed": _("Updated by import."),
        "history.reencrypted": _("Secrets re-encrypted under the current key."),
        "move.between": _("Moved from %(old)s to %(new)s."),
        "move.stays": _("Stays in %(new)s."),
        "move.between_owned": _("Moved from %(old)s to %(new)s. Now owned by %(owner)s."),
        "move.stays_owned": _("Stays in %(new)s. Now owned by %(owner)s."),
        "move.team": _("team “%(team)s”"),
        "move.own": _("its owner's own"),
        "move.offboarded_in_team": _(
            "Handed over when %(user)s was offboarded. Stays in team “%(team)s”; now recorded as "
            "created by %(owner)s."
        ),
        "move.offboarded_to_team": _(
            "Handed over when %(user)s was offboarded. Moved to team %(team)s."
        ),
        "move.offboarded_to_user": _(
            "Handed over when %(user)s was offboarded. Moved to %(owner)s."
        ),
        "link.made": _("Authorization link %(link)s made, usable until %(until_at)s."),
        "link.made_emailed": _(
            "Authorization link %(link)s made, usable until %(until_at)s, emailed to %(email)s."
        ),
        "link.revoked": _("Authorization link %(link)s revoked."),
        "link.not_yours": _("You may not authorize this connection; no link was made."),
        "link.unknown": _("This authorization link is not known here. Nothing was changed."),
        "link.was_revoked": _("This authorization link was revoked. Nothing was changed."),
        "link.was_used": _(
            "This authorization link was already used on %(used_at)s; a link works once. Nothing "
            "was changed."
        ),
        "link.expired": _(
            "This authorization link expired on %(expires_at)s. Nothing was changed: ask for a "
            "new one."
        ),
        "link.sign_in_changed": _(
            "The connection's sign-in changed since this link was made (it was authorized again, "
            "disconnected, or given another client), so the link no longer applies. Nothing was "
            "changed: ask for a new one."
        ),
        "link.maker_left": _(
            "Whoever made this link may no longer change this connection, so the link no longer "
            "applies. Nothing was changed."
        ),
        "link.just_spent": _(
            "This authorization link was used or revoked a moment ago. Nothing was changed."
        ),
        "link.changed_meanwhile": _(
            "The connection's sign-in changed since this link was made, so the link no longer "
            "applies. Nothing was changed: ask for a new one."
        ),
    }
)
