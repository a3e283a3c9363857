"""Email identity: every address has one canonical key (Unicode NFKC, case-folded local
part, the domain in its UTS 46 / IDNA ASCII form), and that key, matched exactly, is
how an account is found: registration, login, password reset, passkey sign-in, the
management commands. Another spelling reaches the one account; a look-alike that is
a different key (a Cyrillic "а", a Turkish "İ") never does.

Through the HTTP API, plus the receiver that keeps the key of users made any other way
(createsuperuser, fixtures, ``user.save()``), the data migration that filled the keys
of existing users, and the unique index that decides a registration race.
"""

from __future__ import annotations

import json
import logging
import threading
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from secureauth import races
from secureauth.emails import MAX_KEY_LENGTH, InvalidEmail, canonical_email
from secureauth.models import Account, Session
from tests.conftest import PASSWORD, bearer, login, run_in_threads
from tests.test_passkeys import add_passkey, begin_login, complete_login
from tests.webauthn_authenticator import SoftwareAuthenticator

User = get_user_model()

ALICE = "alice@example.com"
OTHER_PASSWORD = "a passphrase of someone else entirely"

# Spellings of alice@example.com that are the same key, and pass the EmailValidator
# (so every endpoint with an email field takes them) ...
ALICE_SPELLINGS_VALID = [
    "ALICE@EXAMPLE.COM",
    "  Alice@Example.com  ",
    "alice@ｅｘａｍｐｌｅ.com",  # fullwidth domain (NFKC, then IDNA)
    "alice@\u00adexample.com",  # a soft hyphen, which IDNA maps to nothing
]
# ... and spellings the EmailValidator refuses (it takes ASCII local parts only) that
# login/ and the commands, which take any string, still resolve to the same key.
ALICE_SPELLINGS = [
    *ALICE_SPELLINGS_VALID,
    "ａｌｉｃｅ@example.com",  # fullwidth local part (NFKC)
    "alice@ｅｘａｍｐｌｅ．ｃｏｍ",  # fullwidth full stop too
    "ａｌｉｃｅ＠ｅｘａｍｐｌｅ.com",  # fullwidth commercial at
]
# Addresses that look like alice@example.com but are other keys, with the answer of
# password/reset/ (400 where the EmailValidator refuses the address).
ALICE_LOOKALIKES = {
    "\u0430lice@example.com": 400,  # Cyrillic а in the local part
    "alice@ex\u0430mple.com": 202,  # Cyrillic а in the domain (xn--exmple-4nf.com)
    "al\u0130ce@example.com": 400,  # Turkish İ: folds to i + combining dot, not to i
    "al\u0131ce@example.com": 202,  # dotless ı: has no case fold to i
    "alice@exampIe.com": 202,  # a capital I for the l
    "alice@example.com.": 400,  # a trailing dot is not folded away
    "ali\u200bce@example.com": 400,  # a zero-width space is kept in a local part
}
# Domains Django's EmailValidator accepts (it checks an IDNA2003 encoding) that
# IDNA2008 (UTS 46) refuses: no canonical key, so a 400 field error.
UNENCODABLE = [
    "a@\u2603.net",  # ☃: a symbol, valid in IDNA2003 only
    "a@ab--cd.com",  # hyphens in the 3rd and 4th position of a non-punycode label
    "a@xn--abc.com",  # an A-label that does not decode
    "a@a\u200db.com",  # a zero-width joiner outside the context it is allowed in
    "a@\u0661\u0662\u0663.com",  # an Arabic-digit label breaking the bidi rule
    "a@[127.0.0.1]",  # an address literal has no IDNA form
]
# Refused by the EmailValidator already (and by IDNA): a 400 all the same.
MALFORMED = ["a@-bad-.com", "a@exa_mple..com"]


def register(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/auth/register/", {"email": email, "password": password}, format="json")


def attempt_login(client: APIClient, email: str, password: str = PASSWORD):
    return client.post("/auth/login/", {"email": email, "password": password}, format="json")


def request_reset(client: APIClient, email: str):
    return client.post("/auth/password/reset/", {"email": email}, format="json")


def key_of(user) -> str | None:
    return Account.objects.get(user=user).email_key


def assert_field_error(response, field: str = "email") -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body and isinstance(body[field], list) and body[field], body


# -- the key ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email, key",
    [
        ("Alice@Example.COM", ALICE),
        ("\u017fam@example.com", "sam@example.com"),  # ſ (long s) folds to s
        ("\u212aate@example.com", "kate@example.com"),  # Kelvin sign, NFKC K
        ("stra\u00dfe@example.com", "strasse@example.com"),  # case fold ß → ss
        ("x@b\u00fccher.de", "x@xn--bcher-kva.de"),
        ("x@B\u00dcCHER.DE", "x@xn--bcher-kva.de"),
        ("x@XN--BCHER-KVA.DE", "x@xn--bcher-kva.de"),
        ("x@\u2167.com", "x@viii.com"),  # Roman numeral Ⅷ, NFKC viii
        # A domain keeps IDNA2008's deviation characters: straße.de and strasse.de
        # are two registrable domains with two owners, so two keys.
        ("x@stra\u00dfe.de", "x@xn--strae-oqa.de"),
        ("x@\u03c3\u03af\u03c3\u03c5\u03c6\u03bf\u03c2.gr", "x@xn--kxa6ajbbmh.gr"),  # final ς
    ],
)
def test_canonical_key(email, key):
    assert canonical_email(email) == key


@pytest.mark.parametrize("email", UNENCODABLE + MALFORMED + ["", "@example.com", "alice@", "a"])
def test_no_key_without_an_encodable_domain(email):
    with pytest.raises(InvalidEmail):
        canonical_email(email)


def test_a_key_longer_than_its_column_is_refused():
    """Folding and IDNA lengthen an address (one ㍿ is 17 ASCII characters): a spelling
    the validators accept must not become a key the column cannot hold (PostgreSQL
    answered 500 on register/)."""
    email = "a" * 118 + "@" + ".".join(["\u337f"] * 13) + ".jp"
    assert len(email) < 150
    with pytest.raises(InvalidEmail):
        canonical_email(email)
    assert (
        len(canonical_email("a" * 64 + "@" + ".".join(["\u337f"] * 13) + ".jp")) <= MAX_KEY_LENGTH
    )


# -- registration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "taken, spelling",
    [
        (ALICE, "ALICE@Example.com"),
        ("sam@example.com", "\u017fam@example.com"),  # ſam: long s
        ("\u017fam@example.com", "SAM@example.com"),  # and the other way round
        ("kate@example.com", "\u212aate@example.com"),  # Kelvin sign
        ("strasse@example.com", "STRASSE@Example.com"),
        (ALICE, "alice@ｅｘａｍｐｌｅ.com"),  # NFKC in the domain
        (ALICE, "alice@\u00adexample.com"),  # soft hyphen, ignored by IDNA
        ("x@b\u00fccher.de", "x@xn--bcher-kva.de"),  # IDNA
        ("x@xn--bcher-kva.de", "X@B\u00fcCHER.de"),
        ("x@viii.com", "x@\u2167.com"),  # NFKC: Ⅷ is viii
    ],
)
def test_another_spelling_of_a_taken_address_is_email_taken(api, db, taken, spelling):
    assert register(api, taken).status_code == 201
    response = register(APIClient(), spelling, OTHER_PASSWORD)
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "email_taken"
    assert User.objects.count() == 1
    login(api, taken)  # the owner's password still opens the one account


@pytest.mark.parametrize(
    "spelling",
    [
        "ａｌｉｃｅ@example.com",  # fullwidth local part
        "stra\u00dfe@example.com",  # ß in a local part
    ],
)
def test_a_spelling_the_email_validator_refuses_is_a_field_error_taken_or_not(
    api, make_user, spelling
):
    """Django's EmailValidator takes ASCII local parts only (plus ſ, ı and the Kelvin
    sign, which its case-insensitive pattern matches): a fullwidth or ß local part is
    no address to register, whether or not its key is taken. Never a second account."""
    assert_field_error(register(api, spelling))  # free key
    make_user("alice@example.com")
    make_user("strasse@example.com")
    assert_field_error(register(api, spelling, OTHER_PASSWORD))  # taken key
    assert User.objects.count() == 2


def test_the_first_spelling_is_the_address_kept(api, db):
    response = register(api, "\u017fam@Example.COM")
    assert response.status_code == 201, response.content
    assert response.json()["user"]["email"] == "\u017fam@example.com"
    assert key_of(User.objects.get()) == "sam@example.com"


def test_look_alikes_are_other_accounts(api, make_user):
    alice = make_user(ALICE)
    response = register(api, "alice@ex\u0430mple.com", OTHER_PASSWORD)  # Cyrillic а
    assert response.status_code == 201, response.content
    other = User.objects.get(pk=response.json()["user"]["id"])
    assert key_of(other) == "alice@xn--exmple-4nf.com" != key_of(alice)
    assert login(APIClient(), ALICE)["user"]["id"] == str(alice.pk)


@pytest.mark.parametrize("email", UNENCODABLE + MALFORMED)
def test_register_refuses_a_domain_without_idna_form(api, db, email):
    assert_field_error(register(api, email))
    assert not User.objects.exists()


@pytest.mark.parametrize("email", UNENCODABLE + MALFORMED)
def test_password_reset_refuses_a_domain_without_idna_form(api, db, email):
    assert_field_error(request_reset(api, email))
    assert not mail.outbox


def test_register_refuses_an_address_whose_key_is_too_long(api, db):
    """Was 500 on PostgreSQL (the key overflowed its varchar(320))."""
    email = "a" * 118 + "@" + ".".join(["\u337f"] * 13) + ".jp"
    assert_field_error(register(api, email))
    assert not User.objects.exists()


# -- lookups: login, password reset, passkey sign-in -------------------------------------


@pytest.mark.parametrize("spelling", ALICE_SPELLINGS)
def test_login_with_any_spelling_reaches_the_account(api, user, spelling):
    tokens = login(api, spelling)
    assert tokens["user"]["id"] == str(user.pk)
    assert tokens["user"]["email"] == ALICE


@pytest.mark.parametrize(
    "stored, spelling",
    [
        ("sam@example.com", "\u017fam@example.com"),
        ("\u017fam@example.com", "Sam@Example.com"),
        ("kate@example.com", "\u212aATE@example.com"),
        ("strasse@example.com", "stra\u00dfe@example.com"),  # login takes any string
        ("x@b\u00fccher.de", "x@xn--bcher-kva.de"),
        ("x@xn--bcher-kva.de", "X@B\u00dcCHER.de"),
    ],
)
def test_login_reaches_the_account_of_an_equivalent_address(api, make_user, stored, spelling):
    owner = make_user(stored)
    assert login(api, spelling)["user"]["id"] == str(owner.pk)


@pytest.mark.parametrize("lookalike", ALICE_LOOKALIKES)
def test_login_with_a_look_alike_is_refused(api, user, lookalike):
    response = attempt_login(api, lookalike)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "invalid_credentials"
    assert not Session.objects.exists()


def test_the_look_alike_account_and_the_original_stay_apart(api, make_user):
    alice = make_user(ALICE)
    twin = make_user("alice@ex\u0430mple.com", password=OTHER_PASSWORD)
    assert login(api, "ALICE@EXAMPLE.COM")["user"]["id"] == str(alice.pk)
    assert login(api, "ALICE@EX\u0410MPLE.COM", OTHER_PASSWORD)["user"]["id"] == str(twin.pk)
    for email, password in ((ALICE, OTHER_PASSWORD), ("alice@ex\u0430mple.com", PASSWORD)):
        assert attempt_login(api, email, password).status_code == 401


@pytest.mark.parametrize("spelling", ALICE_SPELLINGS_VALID)
def test_password_reset_with_any_spelling_mails_the_stored_address(api, make_user, spelling):
    owner = make_user("Alice@Example.com")  # Django's manager lower-cases only the domain
    response = request_reset(api, spelling)
    assert response.status_code == 202, response.content
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["Alice@example.com"] == [owner.email]


def test_password_reset_with_long_s_mails_the_account(api, make_user):
    make_user("sam@example.com")
    assert request_reset(api, "\u017fam@EXAMPLE.com").status_code == 202
    assert [m.to for m in mail.outbox] == [["sam@example.com"]]


@pytest.mark.parametrize("lookalike, status", ALICE_LOOKALIKES.items())
def test_password_reset_of_a_look_alike_mails_nobody(api, user, lookalike, status):
    response = request_reset(api, lookalike)
    assert response.status_code == status, response.content
    assert not mail.outbox


@pytest.fixture
def alice_passkey(user):
    """alice, signed in on her own client, with a passkey: its authenticator."""
    authenticator = SoftwareAuthenticator()
    client = APIClient()
    client.credentials(**bearer(login(client, ALICE)))
    add_passkey(client, authenticator, "Laptop")
    return authenticator


@pytest.mark.parametrize("spelling", ALICE_SPELLINGS_VALID)
def test_passkey_sign_in_with_any_spelling_reaches_the_account(api, user, alice_passkey, spelling):
    begun = begin_login(api, spelling)
    response = complete_login(api, begun["challenge_id"], alice_passkey.get(begun["options"]))
    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)


def test_passkey_sign_in_for_a_look_alike_is_refused(api, user, alice_passkey, make_user):
    """A challenge begun for another key is answered by no passkey of alice's, whether
    that key has an account or not."""
    make_user("alice@ex\u0430mple.com")
    for lookalike in ("alice@ex\u0430mple.com", "alice@exampIe.com"):
        begun = begin_login(api, lookalike)
        response = complete_login(api, begun["challenge_id"], alice_passkey.get(begun["options"]))
        assert response.status_code == 401, lookalike
        assert response.json()["code"] == "invalid_credentials"
    assert Session.objects.count() == 1  # alice's own, from signing in to add the passkey


def test_passkey_sign_in_refuses_a_domain_without_idna_form(api, db):
    assert_field_error(
        api.post("/auth/passkeys/login/begin/", {"email": "a@\u2603.net"}, format="json")
    )


# -- management commands ---------------------------------------------------------------


def run(*args) -> None:
    call_command(*args, stdout=StringIO(), stderr=StringIO())


@pytest.fixture
def alice_and_twin(make_user):
    """alice and an account on the look-alike domain exаmple.com (Cyrillic а)."""
    return make_user(ALICE), make_user("alice@ex\u0430mple.com", password=OTHER_PASSWORD)


def roles_of(user) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


@pytest.mark.parametrize(
    "spelling", ["ALICE@EXAMPLE.COM", "ａｌｉｃｅ@ｅｘａｍｐｌｅ.com", "alice@\u00adexample.com"]
)
def test_roles_command_with_another_spelling_reaches_the_account(alice_and_twin, spelling):
    alice, twin = alice_and_twin
    run("secureauth_roles", spelling, "--add", "editor")
    assert roles_of(alice) == {"editor"}
    assert roles_of(twin) == set()
    run("secureauth_roles", "ALICE@EX\u0410MPLE.COM", "--add", "viewer")  # the twin's own key
    assert roles_of(alice) == {"editor"}
    assert roles_of(twin) == {"viewer"}


@pytest.mark.parametrize(
    "lookalike", ["\u0430lice@example.com", "al\u0130ce@example.com", "alice@exampIe.com"]
)
def test_roles_command_with_a_look_alike_fails(alice_and_twin, lookalike):
    with pytest.raises(CommandError):
        run("secureauth_roles", lookalike, "--add", "admin")
    assert not Group.objects.filter(user__isnull=False).exists()
    assert all(roles_of(u) == set() for u in alice_and_twin)


def test_revoke_command_with_another_spelling_reaches_the_account(alice_and_twin):
    alice, twin = alice_and_twin
    alice_tokens = [login(APIClient(), ALICE) for _ in range(2)]
    twin_tokens = login(APIClient(), "alice@ex\u0430mple.com", OTHER_PASSWORD)
    run("secureauth_revoke", "Alice@ＥＸＡＭＰＬＥ.com")
    for tokens in alice_tokens:
        response = APIClient().get("/auth/me/", **bearer(tokens))
        assert response.status_code == 401
        assert response.json()["code"] == "session_revoked"
    assert APIClient().get("/auth/me/", **bearer(twin_tokens)).status_code == 200
    assert Session.objects.active_for(twin).count() == 1


@pytest.mark.parametrize(
    "lookalike", ["\u0430lice@example.com", "alice@exampIe.com", "a@\u2603.net"]
)
def test_revoke_command_with_a_look_alike_fails_and_revokes_nothing(alice_and_twin, lookalike):
    tokens = login(APIClient(), ALICE)
    with pytest.raises(CommandError):
        run("secureauth_revoke", lookalike)
    assert APIClient().get("/auth/me/", **bearer(tokens)).status_code == 200
    assert not Session.objects.filter(revoked_at__isnull=False).exists()


# -- users made outside register/ --------------------------------------------------------


def test_a_superuser_made_in_python_signs_in_by_its_email(api, db):
    root = User.objects.create_superuser(
        username="root", email="Root@Example.com", password=PASSWORD
    )
    for spelling in ("root@example.com", "ROOT@EXAMPLE.COM", "Root@Example.com"):
        tokens = login(api, spelling)
        assert tokens["user"]["id"] == str(root.pk)
        assert tokens["user"]["email"] == "Root@example.com"
    assert attempt_login(api, "root").status_code == 401  # the username is no email


def test_createsuperuser_command_user_signs_in_by_its_email(api, db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    run("createsuperuser", "--noinput", "--username", "admin", "--email", "Admin@Example.COM")
    tokens = login(api, "admin@example.com")
    assert tokens["user"]["id"] == str(User.objects.get(username="admin").pk)


def test_a_user_loaded_from_a_fixture_signs_in_by_its_email(api, db, tmp_path):
    """loaddata saves users raw; the receiver gives them their key all the same."""
    fixture = tmp_path / "users.json"
    fixture.write_text(
        json.dumps(
            [
                {
                    "model": "auth.user",
                    "pk": 4242,
                    "fields": {
                        "username": "seeded",
                        "email": "Seeded@Example.com",
                        "password": make_password(PASSWORD),
                        "is_active": True,
                        "date_joined": "2026-01-01T00:00:00Z",
                    },
                }
            ]
        )
    )
    run("loaddata", str(fixture))
    assert key_of(User.objects.get(pk=4242)) == "seeded@example.com"
    assert login(api, "SEEDED@example.com")["user"]["id"] == "4242"


def test_a_fixture_with_the_accounts_loads_as_dumped(api, make_user, tmp_path):
    """dumpdata of users and their accounts (one of them without a key) loads back."""
    first = make_user("dana@example.com")
    second = make_user("erin@example.com", password=OTHER_PASSWORD)
    second.email = "DANA@example.com"  # collides: second is left without a key
    second.save()
    fixture = tmp_path / "dump.json"
    with open(fixture, "w") as out:
        call_command("dumpdata", "auth.user", "secureauth.account", stdout=out)
    Account.objects.all().delete()
    User.objects.all().delete()
    run("loaddata", str(fixture))
    assert key_of(User.objects.get(pk=first.pk)) == "dana@example.com"
    assert key_of(User.objects.get(pk=second.pk)) is None
    assert login(api, "Dana@Example.com")["user"]["id"] == str(first.pk)


# -- a changed address ---------------------------------------------------------------------


def test_changing_the_email_moves_the_key(api, user):
    user.email = "Alice.New@Example.com"
    user.save()
    assert key_of(user) == "alice.new@example.com"
    assert attempt_login(api, ALICE).status_code == 401
    tokens = login(api, "ALICE.NEW@example.com")
    assert tokens["user"]["id"] == str(user.pk)
    # The new address is not the verified one.
    assert tokens["user"]["email_verified"] is False
    # Nobody holds the old key any more.
    assert not Account.objects.filter(email_key=ALICE).exists()


def test_saving_other_fields_keeps_the_key(api, user):
    user.first_name = "Alice"
    user.save(update_fields=["first_name"])
    user.email = "not-saved@example.com"
    user.save(update_fields=["last_name"])  # the email is not among the saved fields
    assert key_of(user) == ALICE
    user.save(update_fields=["email"])
    assert key_of(user) == "not-saved@example.com"


def test_changing_to_an_address_another_account_holds_leaves_it_without_a_key(
    api, make_user, caplog
):
    alice = make_user(ALICE)
    bob = make_user("bob@example.com", password=OTHER_PASSWORD)
    alice.email = "BOB@Example.com"
    with caplog.at_level(logging.WARNING, logger="secureauth"):
        alice.save()
    assert key_of(alice) is None
    assert key_of(bob) == "bob@example.com"
    warning = [r for r in caplog.records if r.name == "secureauth" and r.levelno == logging.WARNING]
    assert warning and str(alice.pk) in warning[0].getMessage()
    # alice's password does not open bob's account, and bob's login is still his.
    refused = attempt_login(api, "bob@example.com", PASSWORD)
    assert refused.status_code == 401 and refused.json()["code"] == "invalid_credentials"
    assert login(api, "bob@example.com", OTHER_PASSWORD)["user"]["id"] == str(bob.pk)
    assert attempt_login(api, ALICE).status_code == 401  # alice cannot sign in by email
    request_reset(api, "bob@example.com")
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
    # Moving to a free address gives alice a key again.
    alice.email = "alice@example.org"
    alice.save()
    assert login(api, "alice@example.org")["user"]["id"] == str(alice.pk)


# -- the database decides ----------------------------------------------------------------


def test_the_key_is_unique_in_the_database(make_user):
    alice = make_user(ALICE)
    other = make_user("other@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.filter(user=other).update(email_key=key_of(alice))
    Account.objects.filter(user=other).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        Account.objects.create(user=other, email_key=ALICE)
    # Any number of accounts may have no key.
    Account.objects.create(user=other, email_key=None)
    Account.objects.filter(user=alice).update(email_key=None)
    assert Account.objects.filter(email_key__isnull=True).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "first, second, key",
    [
        ("sam@example.com", "\u017fam@example.com", "sam@example.com"),
        # Django's NFKC of the username (the email, for the default user model) does
        # not join these two: here the email key's unique index alone decides.
        ("x@b\u00fccher.de", "x@xn--bcher-kva.de", "x@xn--bcher-kva.de"),
    ],
)
def test_racing_registrations_of_two_spellings_make_one_account(first, second, key):
    """Both requests are held after their "is the key taken?" check until both have
    made it: only a unique index can then refuse the second (on SQLite too)."""
    barrier = threading.Barrier(2, timeout=30)

    def register_as(email: str):
        return lambda: register(APIClient(), email)

    with races.hold("register.key_checked", barrier.wait):
        responses = run_in_threads([register_as(first), register_as(second)])
    assert sorted(r.status_code for r in responses) == [201, 409]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.json()["code"] == "email_taken"
    assert User.objects.count() == 1
    assert Account.objects.get().email_key == key


# -- the data migration --------------------------------------------------------------------

BEFORE_ACCOUNTS = [("secureauth", "0001_initial")]


def migrate_to_latest(executor: MigrationExecutor) -> None:
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_migration_fills_keys_and_reports_collisions_without_merging(capsys):
    """Migrating back before the Account table and forward again runs fill_accounts on
    users made without it: the oldest of colliding users keeps the key, the others get
    none (not merged, still there), each collision is printed, an address with no
    canonical form has no key."""
    executor = MigrationExecutor(connection)
    try:
        executor.migrate(BEFORE_ACCOUNTS)
        old_user = executor.loader.project_state(BEFORE_ACCOUNTS).apps.get_model(
            User._meta.app_label, User._meta.object_name
        )
        password = make_password(PASSWORD)
        emails = [
            "bob@x.com",
            "BOB@x.com",
            "ｂｏｂ@x.com",
            "a@\u2603.net",
            "",
            "carol@b\u00fccher.de",
        ]
        made = [
            old_user.objects.create(username=f"u{i}", email=email, password=password).pk
            for i, email in enumerate(emails)
        ]
        capsys.readouterr()
        migrate_to_latest(executor)
        printed = capsys.readouterr().out
    finally:
        migrate_to_latest(MigrationExecutor(connection))
    latest = MigrationExecutor(connection)
    assert latest.migration_plan(latest.loader.graph.leaf_nodes()) == []

    keys = dict(Account.objects.values_list("user_id", "email_key"))
    bob, bob_upper, bob_wide, snowman, empty, carol = made
    assert keys == {
        bob: "bob@x.com",  # the oldest keeps the key
        bob_upper: None,
        bob_wide: None,
        snowman: None,
        empty: None,
        carol: "carol@xn--bcher-kva.de",
    }
    assert User.objects.filter(pk__in=made).count() == len(made)  # nobody merged away
    for loser in (bob_upper, bob_wide):
        assert f"user {loser} has the email key 'bob@x.com' of user {bob}" in printed
    assert printed.count("secureauth: user") == 2  # only the collisions
    # The migrated users sign in by email: the holder of a key by any spelling of it.
    api = APIClient()
    assert login(api, "BOB@X.COM")["user"]["id"] == str(bob)
    assert login(api, "Carol@B\u00dcCHER.de")["user"]["id"] == str(carol)
