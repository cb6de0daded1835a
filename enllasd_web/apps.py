from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EnllasdWebConfig(AppConfig):
    name = "enllasd_web"
    verbose_name = "enLLASD web"

    def ready(self) -> None:
        from django.apps import apps

        from enllasd_web.roles import ensure_role_groups

        # After every migrate (and every test-database flush) the three role groups exist. Signals go
        # out per app with models, in INSTALLED_APPS order; by the last one's signal every permission exists.
        last_app = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
        post_migrate.connect(ensure_role_groups, sender=last_app, dispatch_uid="enllasd_roles")
