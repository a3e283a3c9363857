from django.apps import AppConfig


class UserModelsConfig(AppConfig):
    name = "tests.user_models"
    label = "user_models"
    default_auto_field = "django.db.models.BigAutoField"
