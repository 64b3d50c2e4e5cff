"""Django's makemessages with FrontConnect's defaults, so every run writes the same catalogues.

Locations are left out (a moved line does not rewrite every catalogue) and texts no longer in
the code are dropped; the tests, benchmarks and collected static files hold no product text.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import makemessages

NOT_PRODUCT_TEXT = ["tests", "bench", "staticfiles", "node_modules"]


class Command(makemessages.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        options["ignore_patterns"] = [*options.get("ignore_patterns", []), *NOT_PRODUCT_TEXT]
        options["no_location"] = True
        options["no_obsolete"] = True
        super().handle(*args, **options)
