from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "frontconnect.settings")

from common.serving import IdleClientTimeout  # noqa: E402 (needs the settings module set)

application = IdleClientTimeout(get_wsgi_application())
