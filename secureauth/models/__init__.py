from .accounts import Account
from .audit import AuditEvent
from .challenges import MFAChallenge
from .passkeys import Passkey, WebAuthnChallenge
from .sessions import Session
from .tokens import RefreshToken
from .totp import SealedTOTPDevice, TOTPSecret
from .users import VerifiedEmail

__all__ = [
    "Account",
    "AuditEvent",
    "MFAChallenge",
    "Passkey",
    "RefreshToken",
    "SealedTOTPDevice",
    "Session",
    "TOTPSecret",
    "VerifiedEmail",
    "WebAuthnChallenge",
]
