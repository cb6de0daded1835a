from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from audit.services import audit_login_record

        # Browser logins go through Django's login(); token logins are recorded by the middleware.
        user_logged_in.connect(audit_login_record, dispatch_uid="audit_login_record")
