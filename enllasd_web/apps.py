from django.apps import AppConfig


class EnllasdWebConfig(AppConfig):
    name = "enllasd_web"
    verbose_name = "enLLASD web"
