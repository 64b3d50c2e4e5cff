"""Rules for text that users type or paste: one validator per kind of text.

- Secret text (API tokens, client IDs and secrets): what Front issues, printable ASCII without
  spaces, because it travels in HTTP headers, which carry nothing else.
- Plain text fields (names, company names): any language, but no control characters, which could
  rewrite a terminal or a log line.
- Names compared for uniqueness: one normalised form, so look-alikes count as the same name.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from confusable_homoglyphs.confusables import confusables_data
from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy, ngettext

# Printable ASCII from "!" to "~": no space, no control character, nothing HTTP headers refuse.
_SECRET_TEXT = re.compile(r"[\x21-\x7e]*")
# Unicode "Cc" (controls) and the bidirectional overrides that can disguise text in a terminal.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Characters that render as nothing: zero-width space/joiners, word joiner, BOM, soft hyphen.
_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")


@deconstructible
class SecretTextValidator:
    """Accept only what Front issues as a credential: printable ASCII, no spaces."""

    message = gettext_lazy(
        "%(label)s may contain only printable ASCII characters without spaces (letters, digits "
        "and punctuation); paste it again exactly as Front shows it."
    )
    code = "secret_text"

    # ``label`` begins the sentence: pass it translatable (gettext_lazy("The API token")).
    def __init__(self, label: str | Promise | None = None) -> None:
        self.label = label

    def __call__(self, value: str) -> None:
        if value and not _SECRET_TEXT.fullmatch(value):
            label = gettext_lazy("This value") if self.label is None else self.label
            raise ValidationError(self.message, code=self.code, params={"label": label})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretTextValidator) and other.label == self.label


@deconstructible
class PlainTextValidator:
    """Refuse control characters (and direction overrides) in a one-line text field."""

    message = gettext_lazy(
        "Remove the control characters (such as tabs, line breaks or escape codes)."
    )
    code = "control_characters"

    def __call__(self, value: str) -> None:
        if value and _CONTROL.search(value):
            raise ValidationError(self.message, code=self.code)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PlainTextValidator)


def is_secret_text(value: str) -> bool:
    """True when ``value`` is non-empty printable ASCII without spaces."""
    return bool(value) and _SECRET_TEXT.fullmatch(value) is not None


def is_plain_text(value: str) -> bool:
    """True when ``value`` has no control characters (or direction overrides)."""
    return _CONTROL.search(value) is None


@functools.cache
def _latin_lookalikes() -> dict[str, str]:
    """Each non-ASCII letter or digit that Unicode lists as confusable with an ASCII one.

    From the confusables data of Unicode's UTS #39 (as packaged by confusable-homoglyphs):
    Cyrillic ``А``, Greek ``Α`` and Cherokee ``Ꭺ`` all look like Latin ``A``.
    """
    table: dict[str, str] = {}
    for char, homoglyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        ascii_alikes = sorted(
            h["c"] for h in homoglyphs if len(h["c"]) == 1 and h["c"].isascii() and h["c"].isalnum()
        )
        if not ascii_alikes:
            continue
        # Keep the case: a capital look-alike stands for a capital letter.
        same_case = [c for c in ascii_alikes if c.isupper() == char.isupper()]
        table[char] = (same_case or ascii_alikes)[0]
    return table


# Asked for the same few names again and again (a connection's company on every proxied call).
@functools.lru_cache(maxsize=4096)
def name_key(name: str) -> str:
    """The form in which two names are compared: NFKC, case-folded, invisible characters removed,
    letters that look like Latin ones (UTS #39 confusables) taken as those.

    ``Acme``, ``ＡＣＭＥ``, ``Аcme`` (Cyrillic А) and ``Acme`` followed by a zero-width space all
    give ``acme``; ASCII names are never changed beyond case.
    """
    text = unicodedata.normalize("NFKC", name)
    text = _INVISIBLE.sub("", text)
    text = unicodedata.normalize("NFKC", text.casefold())
    lookalikes = _latin_lookalikes()
    return "".join(lookalikes.get(char, char) for char in text).casefold().strip()


# The no-break spaces of French typography (before ":" and ";", inside guillemets) are spaces
# to a terminal, not controls: escaping them would print "\xa0" in every French message.
_TYPOGRAPHIC_SPACES = frozenset("\u00a0\u202f")


def terminal_safe(text: str) -> str:
    """Text for a terminal: every non-printable character escaped, so output cannot be forged."""
    return "".join(
        ch
        if ch.isprintable() or ch in _TYPOGRAPHIC_SPACES
        else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )


def seconds_text(value: float) -> str:
    """A number of seconds in words: "1 second", "2 seconds", "2.5 seconds" (never "1 seconds")."""
    count = int(value) if float(value).is_integer() else 2  # a fraction reads as plural
    return ngettext("%(seconds)s second", "%(seconds)s seconds", count) % {"seconds": f"{value:g}"}
