"""The example service's WSGI application, for fault tests.

With ``FAULTS_HOLD_AT=<checkpoint>`` and ``FAULTS_HOLD_FILE=<path>`` (an empty file),
the first request to reach that ``secureauth.races`` checkpoint writes its worker's
pid to the file and stops there, so a test can kill the worker at that exact point.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.core.wsgi import get_wsgi_application

from secureauth import races

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
application = get_wsgi_application()


def _hold_here() -> None:
    """The first request to get here (in any worker) stops; later ones pass."""
    marker = Path(os.environ["FAULTS_HOLD_FILE"])
    if marker.read_text():
        return
    marker.write_text(str(os.getpid()))
    while True:  # until the test kills this worker
        time.sleep(1)


if os.environ.get("FAULTS_HOLD_AT"):
    races._hooks[os.environ["FAULTS_HOLD_AT"]] = _hold_here
