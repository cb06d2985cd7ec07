#!/usr/bin/env python3
"""Enqueue one week's FINRA OTC ingest for the chosen tiers through the Market Spine API.

One bulk POST to ``work/enqueue``: all tiers are queued, or none are. Normalize and the calcs
follow by chaining, so nothing else needs enqueueing. Re-running is safe: an item already
queued comes back as ``existing``.

    MARKET_SPINE_TOKEN=... python scripts/enqueue_weekly_finra.py \\
        --week-ending 2025-12-19 --api-base http://localhost:8000/api/v1

Exit codes: 0 enqueued, 1 the API refused or could not be reached, 2 bad arguments.
Needs only the standard library and requests, so it runs outside the Django project too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests

DOMAIN = "finra.otc_transparency"
TIERS = ("NMS_TIER_1", "NMS_TIER_2", "OTC")
DEFAULT_API_BASE = "http://localhost:8000/api/v1"
# The weekly schedule runs on New York time; "last week" is decided there, not in UTC.
SCHEDULE_TZ = ZoneInfo("America/New_York")
FRIDAY = 4


def last_completed_friday(today: date) -> date:
    """The Friday before ``today`` (a week earlier when today is a Friday: its week is open)."""
    days_back = (today.weekday() - FRIDAY) % 7 or 7
    return today - timedelta(days=days_back)


def week_ending_arg(text: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None
    if len(text) != 10:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)")
    if day.weekday() != FRIDAY:
        raise argparse.ArgumentTypeError(
            f"{day.isoformat()} is a {day:%A}; week endings are Fridays "
            f"(the Friday before it is {last_completed_friday(day).isoformat()})"
        )
    return day


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Enqueue ingest_week for one FINRA OTC week; normalize and calcs follow."
    )
    parser.add_argument(
        "--week-ending",
        type=week_ending_arg,
        help="the Friday ending the week (default: the last completed Friday, New York time)",
    )
    parser.add_argument(
        "--api-base",
        default=os.environ.get("API_BASE", DEFAULT_API_BASE),
        help=f"API root (default: $API_BASE or {DEFAULT_API_BASE})",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("MARKET_SPINE_TOKEN"),
        help="API token (default: $MARKET_SPINE_TOKEN); see manage.py create_api_token",
    )
    parser.add_argument(
        "--tiers", nargs="+", choices=TIERS, default=list(TIERS), help="default: all three"
    )
    parser.add_argument("--priority", type=int, help="higher runs first (server default 100)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the request body; send nothing"
    )
    return parser


def enqueue_body(*, week_ending: date, tiers: list[str], priority: int | None) -> list[dict]:
    desired_at = datetime.now(tz=ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    items = []
    for tier in dict.fromkeys(tiers):
        item: dict[str, Any] = {
            "domain": DOMAIN,
            "pipeline": "ingest_week",
            "partition_key": {"week_ending": week_ending.isoformat(), "tier": tier},
            "desired_at": desired_at,
        }
        if priority is not None:
            item["priority"] = priority
        items.append(item)
    return items


def server_message(response: requests.Response) -> str:
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return response.text.strip()[:500] or response.reason
    fields = "; ".join(f"{name}: {text}" for name, text in (error.get("fields") or {}).items())
    return f"{error.get('message')} ({error.get('code')})" + (f" [{fields}]" if fields else "")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.token and not args.dry_run:
        parser.error("no API token: pass --token or set MARKET_SPINE_TOKEN")
    week_ending = args.week_ending or last_completed_friday(datetime.now(tz=SCHEDULE_TZ).date())
    body = enqueue_body(week_ending=week_ending, tiers=args.tiers, priority=args.priority)
    url = f"{args.api_base.rstrip('/')}/work/enqueue"

    if args.dry_run:
        print(f"dry run: would POST to {url}:")
        print(json.dumps(body, indent=2))
        return 0

    try:
        response = requests.post(
            url,
            json=body,
            headers={"Authorization": f"Token {args.token}"},
            timeout=args.timeout,
        )
    except requests.RequestException as exc:
        print(f"error: cannot reach {url}: {exc}", file=sys.stderr)
        return 1
    if response.status_code >= 400:
        print(
            f"error: HTTP {response.status_code} from {url}: {server_message(response)}",
            file=sys.stderr,
        )
        return 1

    for result in response.json():
        key = result["partition_key"]
        print(
            f"{result['status']:>8} {result['pipeline']} {key['week_ending']} {key['tier']}: "
            f"work item {result['id']}, {result['state']}"
        )
    print(
        f"Enqueued FINRA OTC ingest for week ending {week_ending.isoformat()} "
        f"({', '.join(dict.fromkeys(args.tiers))}); normalize and calcs follow automatically."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
