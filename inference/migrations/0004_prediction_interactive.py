from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('inference', '0003_one_active_sam_weights'),
    ]

    operations = [
        migrations.AddField(
            model_name='prediction',
            name='interactive',
            field=models.BooleanField(default=False, help_text="Requested for a person waiting (an upload from the browser or the API): runs on the 'interactive' queue, ahead of bulk imports and SAM embeddings."),
        ),
    ]
