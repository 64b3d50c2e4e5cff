"""Store codes, render words: a sentence kept as a stable code and its parameters.

A history entry, a status change's reason, a check's result or a pause reason is stored as a
``Said``: a code ("front.refused") and plain parameters ({"what": …, "status": 401}). The sentence
is produced when it is read, in the reader's language and time zone, from the catalogue each app
registers with ``sentences`` (Django's ``LogEntry.get_change_message`` works the same way). The
webhooks and the API send ``english()`` next to the code, so scripts keep a stable code and people
keep a sentence.

Parameters are plain JSON values. By convention a parameter named ``at`` or ending in ``_at`` holds
an ISO time and is shown as a date in the reader's time zone, one named ``seconds`` is shown as a
duration in words, and a nested ``Said`` (stored as its dict) is rendered in turn.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import models
from django.db.models.query_utils import DeferredAttribute
from django.utils import translation
from django.utils.functional import Promise

from common.dates import moment_text
from common.text import seconds_text

# A code for a sentence that was stored as free text before codes existed (or by an old worker).
TEXT = "text"
# Longest stored parameter text: Front's own error words are kept, never a whole page.
PARAM_MAX = 300

_catalogue: dict[str, Promise] = {}


def sentences(catalogue: Mapping[str, Promise]) -> Mapping[str, Promise]:
    """Register each app's sentences by code; a code is registered once, by one app."""
    for code, sentence in catalogue.items():
        if code in _catalogue and _catalogue[code] is not sentence:
            raise ValueError(f"The sentence code {code!r} is registered twice.")
        _catalogue[code] = sentence
    return catalogue


def _plain(value: Any) -> Any:
    """A parameter as stored: JSON values only, long text cut, times as ISO text."""
    if isinstance(value, Said):
        return value.stored()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Promise):
        value = str(value)
    if isinstance(value, str):
        return value[:PARAM_MAX]
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping) and "code" in value:
        return dict(value)
    return str(value)[:PARAM_MAX]


def _shown(name: str, value: Any) -> Any:
    """A stored parameter as the reader sees it (language and time zone of the moment)."""
    if isinstance(value, Mapping) and "code" in value:
        return str(Said.of(value))
    if (name == "at" or name.endswith("_at")) and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment_text(moment)
    if name == "seconds" and isinstance(value, int | float) and not isinstance(value, bool):
        return seconds_text(value)
    return value


@dataclass(frozen=True)
class Said:
    """A sentence as a code and its parameters; ``str()`` renders it for the current reader."""

    code: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: Any) -> Said:
        """What a model field holds, from a stored dict, a Said, free text or nothing."""
        if isinstance(value, Said):
            return value
        if isinstance(value, Mapping):
            return cls(str(value.get("code") or ""), dict(value.get("params") or {}))
        if value is None or value == "":
            return cls()
        return cls(TEXT, {"text": str(value)[:PARAM_MAX]})

    def stored(self) -> dict[str, Any]:
        return {"code": self.code, "params": dict(self.params)} if self.code else {}

    def __bool__(self) -> bool:
        return bool(self.code)

    def __eq__(self, other: object) -> bool:
        """Equal to the same code and parameters, or to the text it reads as now."""
        if isinstance(other, Said):
            return (self.code, dict(self.params)) == (other.code, dict(other.params))
        if isinstance(other, str):
            return str(self) == other
        return NotImplemented

    # Not hashable: its parameters are a dict.
    __hash__ = None  # type: ignore[assignment]

    def __contains__(self, text: str) -> bool:
        """Whether the sentence, as it reads now, contains ``text``."""
        return text in str(self)

    def __str__(self) -> str:
        if not self.code:
            return ""
        if self.code == TEXT:
            return str(self.params.get("text", ""))
        sentence = _catalogue.get(self.code)
        if sentence is None:  # a code of a newer version, or one since removed
            return str(self.params.get("text") or self.code)
        values = {name: _shown(name, value) for name, value in self.params.items()}
        try:
            return str(sentence % values)
        except (KeyError, TypeError, ValueError):  # parameters of an older version of it
            return str(self.params.get("text") or self.code)

    def english(self) -> str:
        """The sentence in English, as the webhooks and the API send it beside the code."""
        with translation.override("en"):
            return str(self)


# The empty sentence (no history message, no reason): false, and shown as nothing.
NOTHING = Said()


def said(code: str, **params: Any) -> Said:
    """A sentence to store: ``said("front.refused", what=..., status=401)``."""
    if code not in _catalogue and code != TEXT:
        raise KeyError(f"No sentence is registered for the code {code!r}.")
    return Said(code, {name: _plain(value) for name, value in params.items()})


@functools.cache
def _pattern(code: str) -> re.Pattern[str]:
    """The English sentence of ``code`` as a regex whose groups are its parameters."""
    sentence = _catalogue[code]
    with translation.override("en"):
        english = str(sentence % _Any()) if "%(" in str(sentence) else str(sentence)
    parts = re.split(r"\x00(\w+)\x00", re.escape(english).replace(r"\x00", "\x00"))
    regex = "".join(f"(?P<{part}>.+?)" if index % 2 else part for index, part in enumerate(parts))
    return re.compile(f"{regex}$", re.DOTALL)


class _Any(dict):
    """Renders every placeholder as a marker, to turn an English sentence back into a regex."""

    def __getitem__(self, key: str) -> str:
        return f"\x00{key}\x00"


def said_from_english(text: str) -> Said:
    """The code and parameters of a sentence stored as English text before codes existed.

    Used once, by the migrations that turned text columns into codes. When several sentences
    match, the one with the most fixed words wins ("Front refused X (HTTP 404: Not found)." is
    a refusal with a detail, not one whose status reads "404: Not found"); text that matches no
    sentence is kept as it was (code ``text``).
    """
    if not text:
        return Said()
    best: tuple[int, str, dict[str, Any]] | None = None
    for code in _catalogue:
        try:
            pattern = _pattern(code)
        except (KeyError, TypeError, ValueError, re.error):
            continue
        found = pattern.match(text)
        if found is None:
            continue
        fixed = len(text) - sum(len(value) for value in found.groupdict().values())
        if best is None or fixed > best[0]:
            params = {k: int(v) if v.isdigit() else v for k, v in found.groupdict().items()}
            best = (fixed, code, params)
    if best is None:
        return Said.of(text)
    return Said(best[1], best[2])


def column_to_codes(model_name: str, name: str, old: models.Field) -> list[Any]:
    """Migration operations that turn the text column ``name`` into a ``SaidField``.

    Each stored sentence is matched against the English sentences registered now and kept as
    their code and parameters; one that matches none is kept as its text. Reversible: going
    back writes the English sentences into the text column again.
    """
    from django.db import migrations

    temporary = f"{name}_said"

    def forward(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(*model_name.split("."))
        rows = model.objects.exclude(**{name: ""}).only("pk", name)
        batch = []
        for row in rows.iterator(chunk_size=2000):
            setattr(row, temporary, said_from_english(getattr(row, name)))
            batch.append(row)
            if len(batch) == 2000:
                model.objects.bulk_update(batch, [temporary])
                batch = []
        model.objects.bulk_update(batch, [temporary])

    def backward(apps: Any, schema_editor: Any) -> None:
        model = apps.get_model(*model_name.split("."))
        limit = old.max_length or PARAM_MAX
        batch = []
        for row in model.objects.only("pk", temporary).iterator(chunk_size=2000):
            if getattr(row, temporary):
                setattr(row, name, getattr(row, temporary).english()[:limit])
                batch.append(row)
        model.objects.bulk_update(batch, [name], batch_size=2000)

    lower = model_name.split(".")[1].lower()
    return [
        migrations.AddField(lower, temporary, SaidField(old.verbose_name, editable=old.editable)),
        migrations.RunPython(forward, backward, elidable=True),
        migrations.RemoveField(lower, name),
        migrations.RenameField(lower, temporary, name),
    ]


class _SaidAttribute(DeferredAttribute):
    """Whatever is assigned (a Said, a stored dict, text) is held as a Said."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = Said.of(value)


class SaidField(models.JSONField):
    """A column holding a ``Said`` as ``{"code": …, "params": {…}}``; ``{}`` when empty.

    Query it by code with ``field__code="…"``.
    """

    descriptor_class = _SaidAttribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value: Any) -> Any:
        # Plain strings pass: they are the right-hand side of lookups such as field__code="…".
        if isinstance(value, Said):
            value = value.stored()
        return super().get_prep_value(value)

    def get_db_prep_save(self, value: Any, connection: Any) -> Any:
        # Text written with .update(field="…") is kept as text, like an assigned one.
        if isinstance(value, str):
            value = Said.of(value)
        return super().get_db_prep_save(value, connection)

    def value_to_string(self, obj: models.Model) -> Any:
        return Said.of(self.value_from_object(obj)).stored()
