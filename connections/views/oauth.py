"""The OAuth 2.0 redirect URL, shared by the admin and self-service flows."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_noop
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET

from connections import authorization, links
from connections.models import LinkResult
from connections.wording import NOTHING, Said, said

logger = logging.getLogger(__name__)


class HttpResponseSeeOther(HttpResponseRedirect):
    status_code = 303


def _private(response: HttpResponse) -> HttpResponse:
    # The callback URL carries the code and state: keep it out of Referer headers and caches.
    response["Referrer-Policy"] = "no-referrer"
    response["Cache-Control"] = "no-store"
    return response


def _back_to(url: str) -> HttpResponse:
    safe = url if url_has_allowed_host_and_scheme(url, allowed_hosts=set()) else "/"
    return _private(HttpResponseSeeOther(safe))


FAILED = gettext_noop(
    "Something went wrong on FrontConnect's side while finishing the authorization; it has been "
    "logged and nothing was changed. Start again from the connection's page."
)


def _refused(
    request: HttpRequest, message: str, *, status: int = 403, heading: str | None = None
) -> HttpResponse:
    context = {"reason": message, "heading": heading}
    response = TemplateResponse(
        request, "admin/connections/oauth_refused.html", context, status=status
    )
    return _private(response.render())


# Not behind the sign-in redirect: it would copy the code and state into the login URL's
# "next"; an anonymous callback is refused by the state check instead (unless it finishes a
# flow an authorization link started in this same browser session).
@login_not_required
@require_GET
@never_cache
@sensitive_variables("state", "code")
def callback(request: HttpRequest) -> HttpResponse:
    """Finish Save and authorize, then go back (303) to the page the flow started from."""
    state, code = request.GET.get("state", ""), request.GET.get("code", "")
    error = request.GET.get("error", "")
    link_id = authorization.pending_link_id(state=state, session=request.session)
    try:
        if error:
            url = authorization.connection_authorize_cancel(
                request_user=request.user, session=request.session, state=state, error=error
            )
            ended = (
                said("authorize.cancelled")
                if error == "access_denied"
                else said("authorize.refused_nothing_changed", error=error[:40])
            )
            if link_id is not None:
                return link_result(request, link_id, LinkResult.CANCELLED, ended)
            messages.warning(request, str(ended))
            return _back_to(url)
        connection = authorization.connection_authorize_complete(
            request_user=request.user,
            session=request.session,
            state=state,
            code=code,
            issuer=request.GET.get("iss"),
        )
    except authorization.AuthorizationError as exc:
        if link_id is not None:
            return link_result(request, link_id, LinkResult.FAILED, exc.said)
        return_url = authorization.pending_authorization_return_url(
            state=state, request_user=request.user, session=request.session
        )
        if return_url is None:
            return _refused(request, str(exc))
        messages.error(request, str(exc))
        return _back_to(return_url)
    except Exception:
        # A 500 would put the code and state of the query string into the error report.
        logger.exception("Unexpected failure while completing an OAuth 2.0 authorization.")
        if link_id is not None:
            return link_result(request, link_id, LinkResult.FAILED, said("authorize.failed_here"))
        # Our failure, not a refusal: a 500 that says so, without the request's code and state.
        return _refused(
            request, gettext(FAILED), status=500, heading=gettext("Authorization not finished")
        )
    if link_id is not None:
        return link_result(request, link_id, LinkResult.AUTHORIZED, NOTHING)
    messages.success(
        request,
        gettext("“%(name)s” is authorized and Online: Front company %(company)s.")
        % {"name": connection.name, "company": connection.front_company_name},
    )
    return_url = authorization.pending_authorization_return_url(
        state=state, request_user=request.user, session=request.session
    )
    return _back_to(return_url or "/")


# The session remembers which link's result page this browser may see (no secret in the URL).
LINK_RESULT_SESSION = "frontconnect_link_result"


def link_result(
    request: HttpRequest, link_id: int, result: LinkResult, reason: Said
) -> HttpResponse:
    """Record a link flow's end, then go to the service's return_url or the result page."""
    link = links.link_finish(link_id=link_id, result=result, reason=reason)
    if link.return_url:
        # An absolute URL the key allowed when the link was made (api.views checks the origin).
        response = HttpResponseSeeOther(links.link_return_url(link))
        return _private(response)
    request.session[LINK_RESULT_SESSION] = link.pk
    return _back_to(reverse("links:result"))
