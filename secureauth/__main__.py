"""SecureAuth's command line: ``python -m secureauth COMMAND``.

python -m secureauth startservice NAME [DIRECTORY]
"""

from __future__ import annotations

import argparse
import sys

from .scaffold import ScaffoldError, create_service

STARTSERVICE = """\
Write a new Django project that is an authentication service built on SecureAuth:
NAME/settings.py reads everything from the environment (SECRET_KEY, DEBUG,
DATABASE_URL, REDIS_URL, ALLOWED_HOSTS, SECUREAUTH_*, mail, social login), NAME/urls.py
serves admin/, auth/ and health/, plus manage.py, wsgi.py, asgi.py, a .env.example
listing every variable and a README.md.
"""

NEXT_STEPS = """\
Created the SecureAuth service '{name}' in {target}. Next:

  cd {target}
  DEBUG=1 python manage.py migrate
  DEBUG=1 python manage.py runserver     # the API is at http://127.0.0.1:8000/auth/

Configuration: .env.example lists every variable (copy it to .env); README.md has
the production steps.
"""


def build_parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(
        prog="python -m secureauth", description="SecureAuth command-line tools."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    start = commands.add_parser(
        "startservice",
        help="write a new Django project wired with SecureAuth",
        description=STARTSERVICE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    start.add_argument(
        "name", metavar="NAME", help="the service's Python package name, e.g. authservice"
    )
    start.add_argument(
        "directory",
        metavar="DIRECTORY",
        nargs="?",
        help="where to write the project (default: ./NAME); must not exist, or be empty",
    )
    return parser, start


def main(argv: list[str] | None = None) -> int:
    parser, start = build_parser()
    args = parser.parse_args(argv)
    try:
        target = create_service(args.name, args.directory)
    except ScaffoldError as error:
        start.error(str(error))  # exits 2 with the usage line
    print(NEXT_STEPS.format(name=args.name, target=target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
