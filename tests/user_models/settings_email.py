"""The test settings with ``EmailUser`` (the email is the USERNAME_FIELD)."""

from tests.settings import *  # noqa: F403
from tests.user_models.settings_base import databases, installed_apps

AUTH_USER_MODEL = "user_models.EmailUser"
INSTALLED_APPS = installed_apps("tests.user_models")
DATABASES = databases("email")
