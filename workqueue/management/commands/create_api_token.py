"""Issue a named API token for a user and print its key (the last line of stdout, for scripts).

The key is shown only here: the database keeps its digest. ``--rotate`` replaces the user's token
of that name (the old key stops working); without it, an existing name is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from workqueue.models import ApiToken
from workqueue.services import Actor
from workqueue.tokens import (
    DEFAULT_TOKEN_NAME,
    ApiTokenNameTaken,
    api_token_create,
    api_token_rotate,
)


def parse_expiry(value: str) -> datetime:
    """``--expires``: an ISO date (end of that day, UTC) or an ISO date-time (UTC if naive)."""
    try:
        day = parse_date(value)
        moment = datetime.combine(day, time.max) if day else parse_datetime(value)
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--expires {value!r} is not an ISO date or date-time (2026-12-31)")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def expiry_from(options: dict[str, Any]) -> datetime | None:
    expires, days = options["expires"], options["expires_in_days"]
    if expires is not None and days is not None:
        raise CommandError("give --expires or --expires-in-days, not both")
    if days is not None:
        if days < 1:
            raise CommandError(f"--expires-in-days must be at least 1, not {days}")
        return timezone.now() + timedelta(days=days)
    if expires is None:
        return None
    moment = parse_expiry(expires)
    if moment <= timezone.now():
        raise CommandError(f"--expires {expires} is in the past")
    return moment


class Command(BaseCommand):
    help = (
        "Create an API token named --name for USER and print its key, shown only this once. "
        "Send it as 'Authorization: Token KEY'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--name",
            default=DEFAULT_TOKEN_NAME,
            help=f"what uses the token, e.g. cron-weekly-finra (default {DEFAULT_TOKEN_NAME!r})",
        )
        parser.add_argument(
            "--rotate",
            action="store_true",
            help="replace the user's token of this name; the old key stops working",
        )
        parser.add_argument("--expires", help="expiry: ISO date (end of day UTC) or date-time")
        parser.add_argument("--expires-in-days", type=int, help="expiry: this many days from now")

    def handle(self, *args: Any, username: str, name: str, rotate: bool, **options: Any) -> None:
        user = self._user(username)
        name = name.strip()
        if not name or len(name) > 100:
            raise CommandError("--name must be 1 to 100 characters")
        expires_at = expiry_from(options)
        current = ApiToken.objects.filter(user=user, name=name, revoked_at__isnull=True).first()
        try:
            if rotate and current is not None:
                given = options["expires"] is not None or options["expires_in_days"] is not None
                token, key = api_token_rotate(
                    token=current, actor=Actor.cli(), expires_at=expires_at if given else "keep"
                )
                self.stderr.write(
                    f"rotated {username}'s token {name!r} ({current.prefix}… no longer works)"
                )
            else:
                token, key = api_token_create(
                    user=user, name=name, expires_at=expires_at, actor=Actor.cli()
                )
                self.stderr.write(f"created token {name!r} for {username}; copy it now")
        except ApiTokenNameTaken:
            prefix = current.prefix if current is not None else "?"
            raise CommandError(
                f"{username} already has a token named {name!r} (prefix {prefix}…); its "
                "key was shown only when it was made: use --rotate to replace it, or --name "
                "for another token"
            ) from None
        if token.expires_at is not None:
            self.stderr.write(f"expires {token.expires_at:%Y-%m-%d %H:%M:%S} UTC")
        self.stdout.write(key)

    def _user(self, username: str) -> Any:
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: username})
        except User.DoesNotExist:
            raise CommandError(
                f"no user {username!r}; create one first (manage.py createsuperuser, or the admin)"
            ) from None
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive; a token would not work")
        return user
