"""What every operation of the API may answer, declared once for the whole schema."""

from __future__ import annotations

from typing import Any

ERROR_REF = {"$ref": "#/components/schemas/Error"}

# Answers any operation can give, whatever its view: Django's and DRF's own refusals and the
# database outage, all in the one error shape (api.errors).
EVERY_OPERATION = {
    "405": "The method is not allowed on this path (see `Allow`).",
    "503": "FrontConnect's database cannot be reached (or, for the Front proxy, it is busy with "
    "other proxied calls): retry after `Retry-After` seconds.",
}
WITH_AN_ID = {"404": "No connection with this id is within the key's reach."}
WITH_A_BODY = {
    "411": "A chunked request body: send it with a Content-Length header.",
    "415": "The body's Content-Type is not one this operation accepts.",
}


def declare_common_errors(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular hook: add the shared error answers each operation lacks."""
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            declared = dict(EVERY_OPERATION)
            if "{id}" in path:
                declared.update(WITH_AN_ID)
            if "requestBody" in operation:
                declared.update(WITH_A_BODY)
            responses = operation.setdefault("responses", {})
            for code, sentence in declared.items():
                content = {"application/json": {"schema": ERROR_REF}}
                responses.setdefault(code, {"description": sentence, "content": content})
    return result
