"""Roles (Django groups) granted to and withdrawn from users, and the other
administrator actions on a user; all audited."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from .. import signals
from ..client import ClientInfo
from ..constants import Event, RevokeReason
from ..exceptions import Invalid, NotFound
from ..models import Account, Session
from ..models.ids import pk_from_path
from ..models.users import load_security_state, update_security_state
from . import audit
from .sessions import revoke_session

if TYPE_CHECKING:
    from ..types import UserType

MAX_ROLE_LENGTH = Group._meta.get_field("name").max_length or 150


def clean_role_names(names: Iterable[str]) -> list[str]:
    """Role names stripped and de-duplicated (order kept); Invalid if one is empty or too long."""
    cleaned: list[str] = []
    for name in names:
        role = str(name).strip()
        if not role:
            raise Invalid("A role name cannot be empty.")
        if len(role) > MAX_ROLE_LENGTH:
            raise Invalid(f"A role name has at most {MAX_ROLE_LENGTH} characters.")
        if role not in cleaned:
            cleaned.append(role)
    return cleaned


def roles_of(user: UserType) -> list[str]:
    """The user's role names, sorted."""
    return sorted(user.groups.values_list("name", flat=True))


def change_roles(
    user: UserType,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    *,
    actor: UserType | None = None,
    client: ClientInfo | None = None,
) -> list[str]:
    """Grant the roles in ``add`` (creating missing groups) and withdraw those in
    ``remove``; returns the user's resulting roles.

    A real change is audited as ``roles_changed`` and sent as the
    ``roles_changed`` signal after commit; asking for a role in both lists is Invalid."""
    to_add, to_remove = clean_role_names(add), clean_role_names(remove)
    both = sorted(set(to_add) & set(to_remove))
    if both:
        raise Invalid(f"A role cannot be both added and removed: {', '.join(both)}.")
    with transaction.atomic():
        before = set(roles_of(user))
        if to_add:
            user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in to_add))
        if to_remove:
            user.groups.remove(*Group.objects.filter(name__in=to_remove))
        after = roles_of(user)
        added = sorted(set(after) - before)
        removed = sorted(before - set(after))
        if added or removed:
            audit.record_event(
                Event.ROLES_CHANGED,
                user=user,
                client=client,
                added=added,
                removed=removed,
                roles=after,
                actor=str(actor.pk) if actor is not None else None,
            )
    update_security_state(user, roles=tuple(after))
    if added or removed:
        signals.send_after_commit(signals.roles_changed, sender=None, user=user, roles=after)
    return after


def set_roles(
    user: UserType,
    roles: Iterable[str],
    *,
    actor: UserType | None = None,
    client: ClientInfo | None = None,
) -> list[str]:
    """Make ``roles`` exactly the user's roles (creating missing groups); returns the
    resulting list. Audited and signalled like ``change_roles`` when anything changed.

    The user's row is locked for the change, so two concurrent calls apply one after
    the other instead of mixing."""
    wanted = clean_role_names(roles)
    with transaction.atomic():
        Account.objects.lock(user)
        current = roles_of(user)
        return change_roles(
            user,
            add=[r for r in wanted if r not in current],
            remove=[r for r in current if r not in wanted],
            actor=actor,
            client=client,
        )


def find_user(user_id: str) -> UserType:
    """The user with this id, with its security state; NotFound if unknown or malformed."""
    User = get_user_model()
    pk = pk_from_path(User, user_id)
    user = None if pk is None else User._default_manager.filter(pk=pk).first()
    if user is None:
        raise NotFound("No such user.")
    load_security_state(user)
    return user


def revoke_sessions_as_admin(
    user: UserType, *, actor: UserType | None, client: ClientInfo | None = None
) -> int:
    """An administrator signs ``user`` out everywhere: every active session is revoked
    (each audited ``session_revoked`` with reason ``admin`` and the actor, and
    signalled); returns how many."""
    revoked = 0
    for session in Session.objects.active_for(user):
        session.user = user
        if revoke_session(session, RevokeReason.ADMIN, client=client, event=None):
            revoked += 1
            audit.record_event(
                Event.SESSION_REVOKED,
                user=user,
                session=session,
                client=client,
                reason=RevokeReason.ADMIN,
                actor=str(actor.pk) if actor is not None else None,
            )
    return revoked
