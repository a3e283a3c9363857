"""The benchmark project's settings for bench/magic_link_timing.py: mail written to
files by the background thread (as a real backend would, after the response), the
app's mail templates, and limits no run reaches."""

import os

from bench.settings import *  # noqa: F403
from bench.settings import SECUREAUTH

EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
EMAIL_FILE_PATH = os.environ.get("BENCH_MAIL_DIR", "/tmp/secureauth-bench-magic-link-mail")
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
SECUREAUTH = {
    **SECUREAUTH,
    "SEND_MAIL_IN_BACKGROUND": True,
    "RATE_LIMITS": {
        **SECUREAUTH["RATE_LIMITS"],
        "magic_link": "10000000/m",
        "magic_link_email": "10000000/m",
    },
}
