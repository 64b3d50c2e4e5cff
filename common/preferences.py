"""The reader's language and time zone: saved per person, applied to their pages and emails.

A signed-in person's saved language wins over the language cookie and the browser's
Accept-Language (LocaleMiddleware's choice); without one, LocaleMiddleware's choice stands.
Times are shown in the person's time zone, UTC (TIME_ZONE) for everyone else. Emails sent to
someone are rendered inside ``reading_as(user)``: their language (else LANGUAGE_CODE, the
server's default) and their time zone.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from common.forms import PreferencesForm
from common.models import DEFAULT_TIME_ZONE, Preferences, time_zone_names


def preferences_of(user: User | AnonymousUser | None) -> Preferences | None:
    """The person's saved preferences, or None (anonymous, or never saved)."""
    if user is None or not user.is_authenticated:
        return None
    return Preferences.objects.filter(user_id=user.pk).first()


def offered_language(code: str | None) -> str | None:
    """``code`` when it is one of settings.LANGUAGES, else None."""
    return code if code and code in dict(settings.LANGUAGES) else None


def zone_of(preferences: Preferences | None) -> zoneinfo.ZoneInfo:
    """The time zone to show times in: the saved one if this server still knows it, else UTC."""
    name = preferences.time_zone if preferences is not None else DEFAULT_TIME_ZONE
    return zoneinfo.ZoneInfo(name if name in time_zone_names() else DEFAULT_TIME_ZONE)


def preferences_save(
    *, user: User, language: str | None = None, time_zone: str | None = None
) -> Preferences:
    """Save the given preference(s) of ``user``, creating their row on first use; an unknown
    language or time zone raises ValidationError and nothing is saved."""
    preferences = Preferences.objects.filter(user=user).first() or Preferences(user=user)
    if language is not None:
        preferences.language = language
    if time_zone is not None:
        preferences.time_zone = time_zone
    preferences.full_clean()
    preferences.save()
    return preferences


@contextmanager
def reading_as(
    user: User | AnonymousUser | None, *, language_default: str | None = None
) -> Iterator[None]:
    """Render what is sent to ``user`` in their language and time zone.

    Without a saved language: ``language_default`` if given, else LANGUAGE_CODE.
    """
    preferences = preferences_of(user)
    language = (
        offered_language(preferences.language if preferences else None)
        or language_default
        or settings.LANGUAGE_CODE
    )
    with translation.override(language), timezone.override(zone_of(preferences)):
        yield


class PreferencesMiddleware:
    """Activate the signed-in person's time zone and, if they saved one, their language."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        preferences = preferences_of(getattr(request, "user", None))
        language = offered_language(preferences.language if preferences else None)
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        timezone.activate(zone_of(preferences))
        try:
            return self.get_response(request)
        finally:
            # The thread serves other people next: nobody inherits this person's zone.
            timezone.deactivate()


def language_cookie_set(response: HttpResponse, language: str) -> None:
    """Remember ``language`` in the browser as Django's set_language does."""
    samesite: Any = settings.LANGUAGE_COOKIE_SAMESITE
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=samesite,
    )


def csrf_passes(request: HttpRequest) -> bool:
    """Whether ``request`` passes Django's CSRF check (without answering 403 when not)."""
    return CsrfViewMiddleware(HttpResponse).process_view(request, HttpResponse, (), {}) is None


# The CSRF check is made in the view: pages whose address holds a secret (an authorization
# link's) send no Referer, so browsers post from them with "Origin: null", which the check
# refuses. Switching the language cookie needs no protection; saving a person's preference does.
@login_not_required
@csrf_exempt
@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switcher: Django's set_language (cookie, back to ``next``), and for a
    signed-in person their saved language too, so that their emails follow."""
    language = offered_language(request.POST.get(i18n.LANGUAGE_QUERY_PARAMETER))
    if language is None:
        messages.error(request, _("Choose one of the languages in the list; nothing was changed."))
    elif request.user.is_authenticated and csrf_passes(request):
        preferences_save(user=request.user, language=language)
    # Django's view answers with the cookie and the redirect, or just the redirect when the
    # language is not offered.
    response: HttpResponse = i18n.set_language(request)
    return response


def preferences_edit(request: HttpRequest) -> HttpResponse:
    """The member's preferences page: language and time zone."""
    form = PreferencesForm(request.POST or None, instance=preferences_of(request.user))
    if request.method == "POST" and form.is_valid():
        preferences = preferences_save(
            user=request.user,  # type: ignore[arg-type]
            language=form.cleaned_data["language"],
            time_zone=form.cleaned_data["time_zone"],
        )
        if not preferences.language:
            # "The browser's language": the cookie of an earlier switch goes (below) and no
            # longer decides.
            request.COOKIES.pop(settings.LANGUAGE_COOKIE_NAME, None)
        # The confirmation is read on the next page: in the language just chosen.
        language = preferences.language or translation.get_language_from_request(request)
        with translation.override(language):
            messages.success(request, _("Your preferences are saved."))
        response = HttpResponseRedirect(reverse("preferences"))
        if preferences.language:
            language_cookie_set(response, preferences.language)
        else:
            samesite: Any = settings.LANGUAGE_COOKIE_SAMESITE
            response.delete_cookie(
                settings.LANGUAGE_COOKIE_NAME,
                path=settings.LANGUAGE_COOKIE_PATH,
                domain=settings.LANGUAGE_COOKIE_DOMAIN,
                samesite=samesite,
            )
        return response
    context: dict[str, Any] = {"form": form}
    return render(request, "common/preferences.html", context)
