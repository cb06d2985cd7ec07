"""API tokens stored as digests; existing plaintext DRF tokens are hashed in and deleted.

Each existing ``authtoken_token`` row becomes a token named "default" with the same key (only its
SHA-256 digest and first characters are kept), so cron jobs keep working unchanged; the plaintext
rows are then deleted. Going back cannot restore a key from its digest: the reverse keeps nothing.
"""

import hashlib

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

PREFIX_LENGTH = 8  # workqueue.models.API_TOKEN_PREFIX_LENGTH when this was written


def hash_plaintext_tokens(apps, schema_editor):
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("workqueue", "ApiToken")
    ApiToken.objects.bulk_create(
        ApiToken(
            user_id=token.user_id,
            name="default",
            prefix=token.key[:PREFIX_LENGTH],
            digest=hashlib.sha256(token.key.encode()).hexdigest(),
            created_at=token.created,
        )
        for token in Token.objects.all()
    )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workqueue", "0009_audit_outcome"),
        ("authtoken", "0004_alter_tokenproxy_options"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="ApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "name",
                    models.CharField(
                        help_text="What uses it, e.g. cron-weekly-finra.", max_length=100
                    ),
                ),
                ("prefix", models.CharField(editable=False, max_length=8)),
                ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                (
                    "created_at",
                    models.DateTimeField(default=django.utils.timezone.now, editable=False),
                ),
                (
                    "expires_at",
                    models.DateTimeField(
                        blank=True, help_text="Empty: never expires. UTC.", null=True
                    ),
                ),
                ("last_used_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, editable=False, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="api_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "API token",
                "db_table": "core_api_tokens",
                "ordering": ["user_id", "name", "-created_at"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("revoked_at__isnull", True)),
                        fields=("user", "name"),
                        name="core_api_tokens_one_active_name_per_user",
                    )
                ],
            },
        ),
        migrations.RunPython(hash_plaintext_tokens, migrations.RunPython.noop),
    ]
