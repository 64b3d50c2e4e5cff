from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def callback(request: HttpRequest) -> HttpResponse:
    raise Http404("Not built yet.")
