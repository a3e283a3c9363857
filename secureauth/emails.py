"""The one canonical form of an email address: the key accounts are found by.

Unicode NFKC, case-folded (NFKC again after folding, as Unicode's NFKC_Casefold),
the domain in its IDNA ASCII form (UTS 46). Two spellings of one address
(``Sam@Example.COM``, ``ſam@example.com``, ``sam@bücher.de`` / ``sam@xn--bcher-kva.de``)
have one key; no lookup folds case any other way.
"""

from __future__ import annotations

import unicodedata

import idna


class InvalidEmail(ValueError):
    """The address has no usable local part or its domain cannot be IDNA-encoded."""


def canonical_email(email: str) -> str:
    """The canonical key of ``email``; InvalidEmail when it cannot be formed."""
    folded = unicodedata.normalize("NFKC", email.strip())
    folded = unicodedata.normalize("NFKC", folded.casefold())
    local, at, domain = folded.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail("Enter a valid email address.")
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise InvalidEmail("The domain of this email address is not valid.") from None
    return f"{local}@{ascii_domain.lower()}"
