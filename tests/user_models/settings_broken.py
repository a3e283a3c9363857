"""The test settings with a user model SecureAuth cannot work with (no email field, no
groups): ``manage.py check`` must refuse it. Never migrated."""

from tests.settings import *  # noqa: F403
from tests.user_models.settings_base import databases, installed_apps

AUTH_USER_MODEL = "user_models_broken.NoEmailNoGroupsUser"
INSTALLED_APPS = installed_apps("tests.user_models.broken")
DATABASES = databases("broken")
