"""Django's password hashers, unchanged except that they add up the time spent verifying,
so the in-process benchmark can report the time of a login *beyond* the password hash."""

from __future__ import annotations

import time

from django.contrib.auth import hashers


class VerifyClock:
    """Seconds spent in ``verify`` by any timed hasher of this process."""

    spent = 0.0

    @classmethod
    def take(cls) -> float:
        spent, cls.spent = cls.spent, 0.0
        return spent


class _Timed:
    def verify(self, password, encoded):
        start = time.perf_counter()
        try:
            return super().verify(password, encoded)
        finally:
            VerifyClock.spent += time.perf_counter() - start


class Argon2PasswordHasher(_Timed, hashers.Argon2PasswordHasher):
    pass


class PBKDF2PasswordHasher(_Timed, hashers.PBKDF2PasswordHasher):
    pass


class MD5PasswordHasher(_Timed, hashers.MD5PasswordHasher):
    pass
