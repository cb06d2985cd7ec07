"""Token authentication cost: Market Spine's digest lookup against django-rest-knox, same run.

    .venv/bin/python benchmarks/token_lookup.py [--lookups 3000] [--rounds 5]

Each lookup is what the enqueue endpoint pays before its own work: authenticate
``Authorization: Token <key>`` and answer two permission checks (``has_perm`` for operate and
view, as the views' permission classes do). Schemes, alternating in --rounds rounds (order
swapped each round, so other load on the machine weighs on all alike):

- marketspine: ``marketspine.api.authentication.FastTokenAuthentication`` (SHA-256 digest,
  one query that also loads the permissions);
- knox: ``knox.auth.TokenAuthentication`` 5.x (SHA-512 digest looked up by key prefix, the
  user's other tokens checked for expiry, permissions by ModelBackend);
- drf: DRF's plaintext ``TokenAuthentication`` with its row in ``authtoken_token`` (what the
  project used before tokens were hashed), as a reference.

Printed: microseconds per lookup, queries per lookup, and the ratio to marketspine. Needs
PostgreSQL at BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432) and django-rest-knox
(benchmarks/requirements.txt); it drops and creates the database marketspine_bench_tokens.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench_db import DEFAULT_SERVER, recreate_database

ROOT = Path(__file__).resolve().parents[1]
DB_NAME = "marketspine_bench_tokens"
PERMISSIONS = ("workqueue.operate_workitem", "workqueue.view_workitem")


def setup_django() -> dict[str, tuple[object, str]]:
    """Migrate the benchmark database; each scheme's authenticator and a key it accepts."""
    os.environ.update(
        {
            "DATABASE_URL": f"{DEFAULT_SERVER.rstrip('/')}/{DB_NAME}",
            "DJANGO_SETTINGS_MODULE": "benchmarks.settings_knox",
            "SECRET_KEY": "benchmark-only-secret-key-not-used-anywhere-else-0123456789",
            "DEBUG": "0",
            "LOG_LEVEL": "WARNING",
        }
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from knox.auth import TokenAuthentication as KnoxAuthentication
    from knox.models import AuthToken
    from rest_framework.authentication import TokenAuthentication as DrfAuthentication
    from rest_framework.authtoken.models import Token

    from marketspine.api.authentication import FastTokenAuthentication
    from workqueue.services import Actor
    from workqueue.tokens import api_token_create

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.get(name="data_ops"))
    ours = api_token_create(user=user, name="bench", actor=Actor.system("benchmark"))[1]
    _, knox_key = AuthToken.objects.create(user=user, expiry=None)
    return {
        "marketspine": (FastTokenAuthentication(), ours),
        "knox": (KnoxAuthentication(), knox_key),
        "drf": (DrfAuthentication(), Token.objects.create(user=user).key),
    }


def lookup(authenticator: object, key: str) -> Callable[[], None]:
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    factory = APIRequestFactory()

    def once() -> None:
        request = Request(factory.get("/api/v1/work/pending", HTTP_AUTHORIZATION=f"Token {key}"))
        user, _ = authenticator.authenticate(request)
        if not all(user.has_perm(name) for name in PERMISSIONS):
            raise RuntimeError("the benchmark user lost a permission")

    return once


def queries_per_lookup(once: Callable[[], None]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        once()
    return len(captured)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lookups", type=int, default=3000, help="per scheme per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    recreate_database(DB_NAME)
    schemes = {name: lookup(auth, key) for name, (auth, key) in setup_django().items()}
    for once in schemes.values():  # warm up: prepared statements, the first last-used write
        for _ in range(200):
            once()
    queries = {name: queries_per_lookup(once) for name, once in schemes.items()}
    seconds = dict.fromkeys(schemes, 0.0)
    names = list(schemes)
    for round_number in range(args.rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            once = schemes[name]
            started = time.perf_counter()
            for _ in range(args.lookups):
                once()
            seconds[name] += time.perf_counter() - started

    total = args.lookups * args.rounds
    print(
        f"token lookup benchmark: {total} lookups per scheme (authenticate + {len(PERMISSIONS)} "
        f"permission checks), PostgreSQL, {args.rounds} alternating rounds, {os.cpu_count()} CPUs"
    )
    print(f"{'scheme':<14}{'µs/lookup':>11}{'queries':>9}{'vs marketspine':>16}")
    base = seconds["marketspine"] / total
    for name in names:
        per = seconds[name] / total
        print(f"{name:<14}{per * 1e6:>11.0f}{queries[name]:>9}{per / base:>15.2f}x")


if __name__ == "__main__":
    main()
