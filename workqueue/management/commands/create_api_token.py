"""Print a user's API token, creating it if missing; ``--rotate`` replaces it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from workqueue.audit import api_token_issue
from workqueue.services import Actor


class Command(BaseCommand):
    help = "Print the API token of USER (created if missing). Use it as 'Authorization: Token KEY'."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--rotate", action="store_true", help="replace the token; the old one stops working"
        )

    def handle(self, *args: Any, username: str, rotate: bool, **options: Any) -> None:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(
                f"no user {username!r}; create one first (manage.py createsuperuser, or the admin)"
            ) from None
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; a token would not work")
        with transaction.atomic():
            token, created = api_token_issue(user=user, rotate=rotate, actor=Actor.cli())
        if created and rotate:
            self.stderr.write(f"new token for {username} (the old one no longer works)")
        elif created:
            self.stderr.write(f"created a token for {username}")
        self.stdout.write(token.key)
