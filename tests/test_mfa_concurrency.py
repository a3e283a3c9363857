"""A code, a recovery code and an mfa_token are each accepted once, also when several
requests carry them at the same moment (real threads on PostgreSQL)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection
from django_otp.plugins.otp_static.models import StaticToken
from rest_framework.test import APIClient

from secureauth.models import Session
from tests.conftest import bearer, login, postgres_only
from tests.test_mfa import enable_totp, verify

pytestmark = [postgres_only, pytest.mark.django_db(transaction=True)]

PARALLEL = 6


@pytest.fixture(autouse=True)
def _no_device_throttle(settings):
    # With django-otp's backoff on, later losers would get 429 instead of mfa_invalid.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    settings.OTP_STATIC_THROTTLE_FACTOR = 0


@pytest.fixture
def mfa_user(make_user):
    user = make_user("racer@example.com", verified=True)
    client = APIClient()
    tokens = login(client, user.email)
    client.credentials(**bearer(tokens))
    phone, codes = enable_totp(client)
    return user, tokens, phone, codes


def fire(calls) -> list[tuple[int, str | None]]:
    """Run each call in its own thread, released together; (status, error code) each."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            response = calls[index]()
            code = response.json().get("code") if response.status_code != 200 else None
            results[index] = (response.status_code, code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_one_totp_code_on_parallel_sign_ins_is_accepted_once(mfa_user):
    user, _, phone, _ = mfa_user
    tokens = [login(APIClient(), user.email)["mfa_token"] for _ in range(PARALLEL)]
    code = phone.code()
    results = fire([lambda t=t: verify(APIClient(), t, code=code) for t in tokens])
    assert Counter(results) == {(200, None): 1, (401, "mfa_invalid"): PARALLEL - 1}
    assert Session.objects.filter(amr=["pwd", "otp"]).count() == 1


def test_one_recovery_code_on_parallel_sign_ins_is_accepted_once(mfa_user):
    user, _, _, codes = mfa_user
    tokens = [login(APIClient(), user.email)["mfa_token"] for _ in range(PARALLEL)]
    results = fire([lambda t=t: verify(APIClient(), t, recovery_code=codes[0]) for t in tokens])
    assert Counter(results) == {(200, None): 1, (401, "mfa_invalid"): PARALLEL - 1}
    assert StaticToken.objects.count() == 9


def test_one_mfa_token_with_several_valid_codes_signs_in_once(mfa_user):
    user, _, phone, codes = mfa_user
    mfa_token = login(APIClient(), user.email)["mfa_token"]
    proofs = [{"code": phone.code()}] + [{"recovery_code": c} for c in codes[: PARALLEL - 1]]
    results = fire([lambda p=p: verify(APIClient(), mfa_token, **p) for p in proofs])
    assert Counter(results) == {(200, None): 1, (401, "token_invalid"): PARALLEL - 1}
    assert Session.objects.filter(amr=["pwd", "otp"]).count() == 1
    # The losers' recovery codes were not used up: their transaction was rolled back.
    assert StaticToken.objects.count() >= 10 - 1


def test_one_code_regenerates_recovery_codes_once(mfa_user):
    _, tokens, phone, _ = mfa_user
    code = phone.code()

    def regenerate():
        return APIClient().post(
            "/auth/mfa/recovery-codes/", {"code": code}, format="json", **bearer(tokens)
        )

    results = fire([regenerate] * PARALLEL)
    assert Counter(results) == {(200, None): 1, (401, "mfa_invalid"): PARALLEL - 1}
    assert StaticToken.objects.count() == 10
