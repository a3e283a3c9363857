"""``manage.py secureauth_revoke EMAIL``: sign a user out of every device."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from secureauth.services.roles import revoke_sessions_as_admin
from secureauth.services.users import find_user_by_email


class Command(BaseCommand):
    help = "Revoke every active session of the user with this email (audited session_revoked)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="Email of the user.")

    def handle(self, *args, email: str, **options):
        user = find_user_by_email(email)
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        count = revoke_sessions_as_admin(user, actor=None)
        self.stdout.write(
            self.style.SUCCESS(f"Revoked {count} session{'s' if count != 1 else ''} of {email}.")
        )
