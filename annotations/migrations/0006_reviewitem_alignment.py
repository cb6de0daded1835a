from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('annotations', '0005_review_override'),
    ]

    operations = [
        migrations.AddField(
            model_name='reviewitem',
            name='outside_intended_use',
            field=models.BooleanField(default=False, help_text="The prediction found no leg (not an AP hip-to-ankle film): listed under the queue's 'not a leg' filter, never among the pending items a reviewer is sent to next."),
        ),
        migrations.AddField(
            model_name='reviewitem',
            name='alignment',
            field=models.JSONField(blank=True, help_text="Alignment JSON of the decided revision, computed once when it was decided (accept: the prediction's, which its document reproduces; correct: the corrected document's). The queue shows it instead of the prediction's; null while pending or rejected.", null=True),
        ),
    ]
