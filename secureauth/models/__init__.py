from .accounts import Account
from .audit import AuditEvent
from .challenges import MFAChallenge
from .magic_links import MagicLink
from .passkeys import Passkey, WebAuthnChallenge
from .sessions import Session
from .tokens import RefreshToken
from .totp import SealedTOTPDevice, TOTPSecret
from .users import VerifiedEmail

__all__ = [
    "Account",
    "AuditEvent",
    "MagicLink",
    "MFAChallenge",
    "Passkey",
    "RefreshToken",
    "SealedTOTPDevice",
    "Session",
    "TOTPSecret",
    "VerifiedEmail",
    "WebAuthnChallenge",
]
