"""``manage.py secureauth_roles EMAIL --add ROLE ... --remove ROLE ...``."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from secureauth.exceptions import SecureAuthError
from secureauth.services.roles import change_roles
from secureauth.services.users import find_user_by_email


class Command(BaseCommand):
    help = (
        "Grant (--add) and withdraw (--remove) roles (Django groups, created when missing); "
        "prints the user's resulting roles. Without --add/--remove, only prints them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="Email of the user.")
        parser.add_argument(
            "--add", nargs="+", action="extend", default=[], metavar="ROLE", help="Roles to grant."
        )
        parser.add_argument(
            "--remove",
            nargs="+",
            action="extend",
            default=[],
            metavar="ROLE",
            help="Roles to withdraw.",
        )

    def handle(self, *args, email: str, add: list[str], remove: list[str], **options):
        user = find_user_by_email(email)
        if user is None:
            raise CommandError(f"No user with email {email!r}.")
        try:
            roles = change_roles(user, add=add, remove=remove)
        except SecureAuthError as error:
            raise CommandError(error.detail)
        self.stdout.write(f"Roles of {email}: {', '.join(roles) if roles else '(none)'}")
