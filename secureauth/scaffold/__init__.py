"""``python -m secureauth startservice NAME [DIRECTORY]``: a new Django project that is
an authentication service built on SecureAuth, configured from the environment.

The files are plain templates in ``templates/`` (package data) in which
``{{ project_name }}`` stands for NAME; nothing else is substituted, so they need no
escaping. ``create_service()`` is the whole generator; ``secureauth/__main__.py`` is
its command line.
"""

from __future__ import annotations

import importlib.util
import keyword
import os
import sys
from importlib.resources import files
from pathlib import Path

PLACEHOLDER = "{{ project_name }}"

#: Template (under ``templates/``) -> file of the new project; ``{name}`` is NAME.
FILES = {
    "manage.py-tpl": "manage.py",
    "README.md-tpl": "README.md",
    "env.example-tpl": ".env.example",
    "gitignore-tpl": ".gitignore",
    "project/__init__.py-tpl": "{name}/__init__.py",
    "project/settings.py-tpl": "{name}/settings.py",
    "project/urls.py-tpl": "{name}/urls.py",
    "project/views.py-tpl": "{name}/views.py",
    "project/wsgi.py-tpl": "{name}/wsgi.py",
    "project/asgi.py-tpl": "{name}/asgi.py",
}
EXECUTABLE = {"manage.py"}


class ScaffoldError(Exception):
    """NAME or DIRECTORY cannot be used; the message says why."""


def validate_name(name: str) -> None:
    """NAME becomes the project's Python package: an identifier that shadows nothing."""
    if not name.isidentifier():
        raise ScaffoldError(
            f"'{name}' is not a valid service name: use a Python identifier "
            "(letters, digits and underscores, not starting with a digit), e.g. 'authservice'."
        )
    if keyword.iskeyword(name):
        raise ScaffoldError(f"'{name}' is a Python keyword; choose another service name.")
    if _is_existing_module(name):
        raise ScaffoldError(
            f"'{name}' is the name of an existing Python module; choose another service name."
        )


def _is_existing_module(name: str) -> bool:
    """An installed or standard-library module of that name would be shadowed (or
    shadow the project). The current directory does not count: the directory about to
    be written may be there already, empty."""
    if name in sys.builtin_module_names or name in sys.stdlib_module_names:
        return True
    here = {"", ".", os.getcwd()}
    saved = sys.path[:]
    sys.path[:] = [entry for entry in saved if entry not in here]
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return True
    finally:
        sys.path[:] = saved


def render(template: str, name: str) -> str:
    text = (files(__name__) / "templates" / template).read_text(encoding="utf-8")
    return text.replace(PLACEHOLDER, name)


def create_service(name: str, directory: str | Path | None = None) -> Path:
    """Write the project for service NAME into DIRECTORY (default ``./NAME``), which
    must not exist or be empty: nothing is ever overwritten. Returns the directory."""
    validate_name(name)
    target = Path(directory if directory is not None else name).expanduser()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ScaffoldError(
            f"'{target}' already exists and is not an empty directory; "
            "nothing was written (choose another DIRECTORY)."
        )
    rendered = {path.format(name=name): render(template, name) for template, path in FILES.items()}
    for relative, text in rendered.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if relative in EXECUTABLE:
            path.chmod(0o755)
    return target
