#!/usr/bin/env python
"""Django's command-line utility for the example SecureAuth service."""

import os
import sys

#: Commands that neither serve nor sign anything: they run without SECRET_KEY, on the
#: development settings (the service itself refuses to start without a key).
KEYLESS_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate", "help"}

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    if command in KEYLESS_COMMANDS and not os.environ.get("SECRET_KEY"):
        os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
