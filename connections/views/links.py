"""Authorization links: the recipient's pages (no account) and making or revoking them.

The recipient's pages carry ``Referrer-Policy: no-referrer`` (the link's URL is its secret),
are never cached and ask search engines not to index them. Making a link shows it once, on the
page the POST redirects to (POST-redirect-GET, like a new API key), and never again.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from common.crypto import decrypt, encrypt
from common.http import AuthenticatedHttpRequest
from connections import access, links
from connections.authorization import AuthorizationError
from connections.forms import AuthorizationLinkForm
from connections.linkmail import link_email_send
from connections.models import AuthorizationLink, Connection, Source
from connections.selectors import connection_changeable_for
from connections.views.oauth import LINK_RESULT_SESSION

# The new link waits here, encrypted, between the POST that made it and the page that shows it.
NEW_LINK_SESSION = "frontconnect_new_authorization_link"
SHOWN_ONCE = _("This link was shown once when it was made and cannot be shown again.")


def _recipient(response: HttpResponse) -> HttpResponse:
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    response["Cache-Control"] = "no-store"
    return response


START_SALT = "connections.links.start"
START_MAX_AGE = 3600


def _start_token(request: HttpRequest, link: AuthorizationLink) -> str:
    """A token for the page's form, bound to this link and this browser's session.

    It replaces Django's CSRF check on this one form: with ``Referrer-Policy: no-referrer`` the
    browser sends no Referer and ``Origin: null``, which that check refuses (on https always).
    A page elsewhere cannot post it: it never sees this browser's session key.
    """
    if not request.session.session_key:
        request.session.save()
    session = hashlib.sha256((request.session.session_key or "").encode()).hexdigest()
    return signing.dumps({"link": link.pk, "session": session}, salt=START_SALT)


def _start_token_valid(request: HttpRequest, link: AuthorizationLink) -> bool:
    try:
        value = signing.loads(request.POST.get("start", ""), salt=START_SALT, max_age=START_MAX_AGE)
    except signing.BadSignature:
        return False
    session = hashlib.sha256((request.session.session_key or "").encode()).hexdigest()
    return value == {"link": link.pk, "session": session} and bool(request.session.session_key)


START_REFUSED = _(
    "This page was sent from elsewhere or is more than an hour old, so nothing was started. "
    "Open the link again and press Authorize with Front."
)


@login_not_required
@csrf_exempt  # the form carries _start_token instead (see there why)
@never_cache
@require_http_methods(["GET", "POST"])
@sensitive_variables("secret")
def link_open(request: HttpRequest, secret: str) -> HttpResponse:
    """The recipient's page: who asks, for what; POST "Authorize with Front" starts the flow."""
    link = links.link_by_secret(secret)
    if link is None:
        return _recipient(
            render(
                request,
                "connections/link_page.html",
                {
                    "refusal": gettext(
                        "This authorization link is not known here. Nothing was changed."
                    )
                },
                status=404,
            )
        )
    refusal = links.link_refusal(link)
    if request.method == "POST" and not refusal and not _start_token_valid(request, link):
        context = {"link": link, "connection": link.connection, "refusal": START_REFUSED}
        return _recipient(render(request, "connections/link_page.html", context, status=403))
    if request.method == "POST" and not refusal:
        try:
            url = links.link_authorize_start(secret=secret, session=request.session)
        except AuthorizationError as exc:
            refusal = exc.said
        else:
            return _recipient(HttpResponseRedirect(url))
    context = {
        "link": link,
        "connection": link.connection,
        "company": link.front_company_name or link.connection.front_company_name,
        "scopes": links.scopes_in_words(link.connection),
        "refusal": refusal,
        "start_token": "" if refusal else _start_token(request, link),
    }
    status = 410 if refusal else 200
    return _recipient(render(request, "connections/link_page.html", context, status=status))


@login_not_required
@never_cache
def link_result(request: HttpRequest) -> HttpResponse:
    """How the flow this browser ran from a link ended: done, cancelled or failed, in words."""
    link_id = request.session.get(LINK_RESULT_SESSION)
    link = (
        AuthorizationLink.objects.select_related("connection").filter(pk=link_id).first()
        if isinstance(link_id, int)
        else None
    )
    if link is None or not link.result:
        raise Http404(gettext("No authorization was finished in this browser."))
    context = {"link": link, "connection": link.connection}
    return _recipient(render(request, "connections/link_result.html", context))


def link_create_from_form(
    request: HttpRequest, connection: Connection, *, source: str, created_page: str
) -> HttpResponse | AuthorizationLinkForm:
    """Make a link from the posted form: redirect to ``created_page``, or return the bad form."""
    form = AuthorizationLinkForm(request.POST)
    if not form.is_valid():
        return form
    try:
        made = links.authorization_link_create(
            connection=connection,
            created_by=request.user,  # type: ignore[arg-type]
            source=source,
            expires_in=timedelta(hours=form.cleaned_data["hours"]),
            note=form.cleaned_data["note"],
            emailed_to=form.cleaned_data["email"],
        )
    except ValidationError as exc:
        form.add_error(None, exc.messages[0])
        return form
    if made.link.emailed_to:
        if link_email_send(made):
            messages.success(
                request,
                gettext("The link was emailed to %(email)s.") % {"email": made.link.emailed_to},
            )
        else:
            messages.warning(
                request,
                gettext(
                    "The email to %(email)s could not be sent; copy the link below "
                    "and send it yourself."
                )
                % {"email": made.link.emailed_to},
            )
    request.session[NEW_LINK_SESSION] = {
        "pk": made.link.pk,
        "sealed": base64.b64encode(encrypt(made.url)).decode("ascii"),
    }
    return HttpResponseRedirect(created_page)


def link_shown_once(request: HttpRequest, connection: Connection) -> str | None:
    """The new link's URL, taken out of the session as it is shown; None if already shown."""
    waiting = request.session.get(NEW_LINK_SESSION)
    if not isinstance(waiting, dict):
        return None
    pk = waiting.get("pk")
    if (
        not isinstance(pk, int)
        or not AuthorizationLink.objects.filter(pk=pk, connection=connection).exists()
    ):
        return None
    del request.session[NEW_LINK_SESSION]
    url = decrypt(base64.b64decode(waiting["sealed"]))
    return url if isinstance(url, str) else None


def form_sentences(form: AuthorizationLinkForm) -> list[str]:
    """Every error of a refused link form, as sentences for messages."""
    return [str(error) for errors in form.errors.values() for error in errors]


@require_POST
@sensitive_post_parameters("note", "email")
def link_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    outcome = link_create_from_form(
        request,
        connection,
        source=Source.SELF_SERVICE,
        created_page=reverse("connections:link-created", args=[connection.pk]),
    )
    if isinstance(outcome, HttpResponse):
        return outcome
    for sentence in form_sentences(outcome):
        messages.error(request, sentence)
    return redirect(connection)


@never_cache
def link_created(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    url = link_shown_once(request, connection)
    context = {"connection": connection, "url": url, "shown_once": SHOWN_ONCE}
    return _recipient(render(request, "connections/link_created.html", context))


@require_POST
def link_revoke(request: AuthenticatedHttpRequest, pk: int, link_pk: int) -> HttpResponse:
    connection = get_object_or_404(connection_changeable_for(request.user), pk=pk)
    link = get_object_or_404(AuthorizationLink, pk=link_pk, connection=connection)
    if links.authorization_link_revoke(link=link, actor=request.user, source=Source.SELF_SERVICE):
        messages.success(
            request, gettext("The authorization link is revoked: it can no longer be used.")
        )
    else:
        messages.warning(request, gettext("That link was already used, revoked or expired."))
    return redirect(connection)


def links_context(
    request: HttpRequest,
    connection: Connection,
    *,
    create_url: str,
    revoke_url: Callable[[AuthorizationLink], str],
) -> dict[str, Any]:
    """The authorization links section of a connection's page, for whoever may authorize it."""
    if not links.connection_may_get_link(connection) or not access.user_may_change(
        request.user, connection
    ):
        return {}
    open_links = list(links.links_open_for(connection))
    for open_link in open_links:
        open_link.revoke_url = revoke_url(open_link)  # type: ignore[attr-defined]
    return {
        "links_shown": True,
        "link_form": AuthorizationLinkForm(),
        "link_create_url": create_url,
        "open_links": open_links,
        "needs_reauthorization": links.connection_needs_reauthorization(connection),
    }


def member_links_context(request: HttpRequest, connection: Connection) -> dict[str, Any]:
    """``links_context`` with the member pages' addresses."""
    return links_context(
        request,
        connection,
        create_url=reverse("connections:link-create", args=[connection.pk]),
        revoke_url=lambda link: reverse("connections:link-revoke", args=[connection.pk, link.pk]),
    )
