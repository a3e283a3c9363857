"""The one canonical form of an email address: the key accounts are found by.

The local part: Unicode NFKC, case-folded (NFKC again after folding, as Unicode's
NFKC_Casefold). The domain: its IDNA ASCII form, mapped as UTS 46 maps it
(non-transitional, as IDNA2008 registries and browsers resolve names): that mapping
folds the domain's case itself but keeps the deviation characters, so ``straße.de``
(``xn--strae-oqa.de``) and ``strasse.de``, two domains with two owners, stay two keys
where a plain case fold would have merged them. Two spellings of one address
(``Sam@Example.COM``, ``ſam@example.com``, ``sam@bücher.de`` / ``sam@xn--bcher-kva.de``)
have one key; no lookup folds case any other way.
"""

from __future__ import annotations

import functools
import unicodedata

import idna

#: The longest key (``Account.email_key``): a spelling whose key would be longer
#: (folding and IDNA can lengthen an address) has no canonical form.
MAX_KEY_LENGTH = 320


class InvalidEmail(ValueError):
    """The address has no usable local part or its domain cannot be IDNA-encoded."""


@functools.lru_cache(maxsize=1024)  # a pure function, called twice per sign-in
def canonical_email(email: str) -> str:
    """The canonical key of ``email``; InvalidEmail when it cannot be formed."""
    address = unicodedata.normalize("NFKC", email.strip())
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail("Enter a valid email address.")
    local = unicodedata.normalize("NFKC", local.casefold())
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise InvalidEmail("The domain of this email address is not valid.") from None
    key = f"{local}@{ascii_domain.lower()}"
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidEmail("This email address is too long.")
    return key
