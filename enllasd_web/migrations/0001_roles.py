"""Create the three role groups with their model permissions (used by the admin site)."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "annotator": {
        "annotations": ["view_patient", "add_patient", "view_case", "add_case", "view_image", "add_image",
                        "view_annotationrevision", "add_annotationrevision"],
        "inference": ["view_prediction", "view_modelversion", "view_ensembleversion"],
    },
    "reviewer": {
        "annotations": ["view_patient", "add_patient", "change_patient", "view_case", "add_case", "change_case",
                        "view_image", "add_image", "view_annotationrevision", "add_annotationrevision"],
        "inference": ["view_prediction", "view_modelversion", "view_ensembleversion"],
        "training": ["view_trainingrun"],
    },
}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    for name, by_app in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=name)
        for app_label, codenames in by_app.items():
            group.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["annotations", "inference", "training", "auth", "authtoken"])
    )


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        ("annotations", "0002_initial"),
        ("inference", "0001_initial"),
        ("training", "0001_initial"),
    ]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
