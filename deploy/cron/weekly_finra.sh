#!/usr/bin/env bash
# Enqueue one week's FINRA OTC ingest for the three tiers through the Market Spine API.
# Normalize and the calcs follow by chaining, so the script enqueues and exits: the workers
# run the rest, retrying with backoff (see deploy/README.md for how to watch the week).
#
#   MARKET_SPINE_TOKEN=... deploy/cron/weekly_finra.sh [--week-ending YYYY-MM-DD]
#       [--api-base URL] [--tiers "NMS_TIER_1 NMS_TIER_2 OTC"] [--priority N]
#
# Environment: MARKET_SPINE_TOKEN (required), API_BASE (default http://localhost:8000/api/v1),
# WEEK_ENDING (default: the last completed Friday, New York time), TIERS, PRIORITY.
# Exit codes: 0 enqueued, 1 the API refused or could not be reached, 2 bad arguments.
# Crontab (New York time): 30 10 * * 1 /opt/market-spine/deploy/cron/weekly_finra.sh
set -euo pipefail

API_BASE=${API_BASE:-http://localhost:8000/api/v1}
WEEK_ENDING=${WEEK_ENDING:-}
TIERS=${TIERS:-NMS_TIER_1 NMS_TIER_2 OTC}
PRIORITY=${PRIORITY:-}

usage() {
  sed -n '2,11s/^# \{0,1\}//p' "$0"
}

# fail CODE MESSAGE...: print the message on stderr and exit with CODE.
fail() {
  local code=$1
  shift
  echo "weekly_finra: $*" >&2
  exit "$code"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --week-ending) WEEK_ENDING=${2:-}; shift 2 || fail 2 "--week-ending needs a date" ;;
    --week-ending=*) WEEK_ENDING=${1#*=}; shift ;;
    --api-base) API_BASE=${2:-}; shift 2 || fail 2 "--api-base needs a URL" ;;
    --api-base=*) API_BASE=${1#*=}; shift ;;
    --tiers) TIERS=${2:-}; shift 2 || fail 2 "--tiers needs a list" ;;
    --tiers=*) TIERS=${1#*=}; shift ;;
    --priority) PRIORITY=${2:-}; shift 2 || fail 2 "--priority needs a number" ;;
    --priority=*) PRIORITY=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) fail 2 "unknown argument: $1 (see --help)" ;;
  esac
done

[ -n "${MARKET_SPINE_TOKEN:-}" ] ||
  fail 2 "MARKET_SPINE_TOKEN is not set (create one with: python manage.py create_api_token USER --name cron-weekly)"

# GNU date (Linux) first, then BSD date (macOS).
# date_format DATE FORMAT: DATE (YYYY-MM-DD) printed with FORMAT.
date_format() {
  date -d "$1" +"$2" 2>/dev/null || date -j -f %Y-%m-%d "$1" +"$2" 2>/dev/null
}

# days_before DATE N: the date N days before DATE.
days_before() {
  date -d "$1 -$2 days" +%Y-%m-%d 2>/dev/null ||
    date -j -v-"$2"d -f %Y-%m-%d "$1" +%Y-%m-%d 2>/dev/null
}

# friday_before DATE: the last Friday before DATE (a week back when DATE is a Friday).
friday_before() {
  local day_of_week days_back
  day_of_week=$(date_format "$1" %u) # 1 = Monday .. 7 = Sunday
  days_back=$(((day_of_week + 2) % 7))
  [ "$days_back" -ne 0 ] || days_back=7
  days_before "$1" "$days_back"
}

# The schedule is set on New York time, so "today" is New York's today.
[ -n "$WEEK_ENDING" ] || WEEK_ENDING=$(friday_before "$(TZ=America/New_York date +%Y-%m-%d)")

[[ "$WEEK_ENDING" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]] ||
  fail 2 "week ending '$WEEK_ENDING' is not a date (YYYY-MM-DD)"
day_name=$(date_format "$WEEK_ENDING" %A) || fail 2 "week ending '$WEEK_ENDING' is not a date"
[ "$(date_format "$WEEK_ENDING" %u)" -eq 5 ] ||
  fail 2 "week ending $WEEK_ENDING is a $day_name; week endings are Fridays" \
    "(the Friday before it is $(friday_before "$WEEK_ENDING"))"
[ -z "$PRIORITY" ] || [[ "$PRIORITY" =~ ^-?[0-9]+$ ]] ||
  fail 2 "priority '$PRIORITY' is not a whole number"

DESIRED_AT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
body=""
for tier in $TIERS; do
  body+="${body:+,}{
    \"domain\": \"finra.otc_transparency\",
    \"pipeline\": \"ingest_week\",
    \"partition_key\": {\"week_ending\": \"$WEEK_ENDING\", \"tier\": \"$tier\"},
    \"params\": {\"tier\": \"$tier\"},
    \"desired_at\": \"$DESIRED_AT\"${PRIORITY:+,
    \"priority\": $PRIORITY}
  }"
done
[ -n "$body" ] || fail 2 "no tiers given"

# One bulk request: every tier is enqueued, or none is (the server checks them all first).
response_file=$(mktemp)
trap 'rm -f "$response_file"' EXIT
status=$(curl --silent --show-error --max-time 60 \
  --output "$response_file" --write-out '%{http_code}' \
  -X POST "$API_BASE/work/enqueue" \
  -H "Authorization: Token $MARKET_SPINE_TOKEN" \
  -H "Content-Type: application/json" \
  -d "[$body]") || fail 1 "cannot reach $API_BASE"

if [ "$status" -ge 400 ]; then
  echo "weekly_finra: HTTP $status from $API_BASE/work/enqueue:" >&2
  cat "$response_file" >&2
  echo >&2
  exit 1
fi

cat "$response_file"
echo
echo "Enqueued FINRA OTC ingest_week for week ending $WEEK_ENDING ($TIERS);" \
  "normalize and calcs follow automatically"
