from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from api.proxy import front_proxy
from api.views import ConnectionViewSet

app_name = "api"

router = SimpleRouter()
router.register("connections", ConnectionViewSet, basename="connection")

urlpatterns = [
    path("v1/", include(router.urls)),
    # Any character may follow front/ so that the proxy itself refuses (with a JSON 400) what
    # Django's <path:> converter would turn into an HTML 404, such as an encoded line break.
    re_path(
        r"^v1/connections/(?P<pk>[^/]+)/front/(?P<front_path>[\s\S]+)\Z",
        front_proxy,
        name="front-proxy",
    ),
    path(
        "schema/",
        login_not_required(SpectacularAPIView.as_view(authentication_classes=[])),
        name="schema",
    ),
    path(
        "docs/",
        login_not_required(
            SpectacularSwaggerView.as_view(url_name="api:schema", authentication_classes=[])
        ),
        name="docs",
    ),
]
