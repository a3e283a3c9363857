from django.apps import AppConfig


class BrokenUserModelsConfig(AppConfig):
    name = "tests.user_models.broken"
    label = "user_models_broken"
    default_auto_field = "django.db.models.BigAutoField"
