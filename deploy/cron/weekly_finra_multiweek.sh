#!/usr/bin/env bash
# Run the FINRA multi-week scheduler (6-week lookback, revision detection) from cron, and mail
# on failure: exit 2 (critical) pages on-call, exit 1 (partial) warns data ops.
#
# Environment: MARKET_SPINE_HOME (the install; default: the checkout holding this script),
# MARKET_SPINE_DB (passed as --db when set; otherwise the app's DATABASE_URL is used),
# ONCALL_EMAIL, DATAOPS_EMAIL (without them, or without `mail`, the alert is only printed),
# plus what the app needs (DATABASE_URL, SECRET_KEY, FINRA_DATA_DIR; see deploy/README.md).
# Extra arguments go to the scheduler, e.g. --mode dry-run.
# Crontab (New York time): 30 10 * * 1 /opt/market-spine/deploy/cron/weekly_finra_multiweek.sh
set -euo pipefail

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MARKET_SPINE_HOME=${MARKET_SPINE_HOME:-$(cd "$script_dir/../.." && pwd)}
cd "$MARKET_SPINE_HOME"

if [ -f .venv/bin/activate ]; then
  # shellcheck source=/dev/null
  source .venv/bin/activate
fi

args=(--lookback-weeks 6 --source file --verbose)
if [ -n "${MARKET_SPINE_DB:-}" ]; then
  args+=(--db "$MARKET_SPINE_DB")
fi

EXIT_CODE=0
python scripts/run_finra_weekly_schedule.py "${args[@]}" "$@" || EXIT_CODE=$?

# alert SUBJECT RECIPIENT MESSAGE: mail it when possible, and always print it.
alert() {
  echo "$1: $3" >&2
  if [ -z "$2" ]; then
    echo "(no recipient set, nothing mailed)" >&2
  elif ! command -v mail >/dev/null 2>&1; then
    echo "(mail is not installed, nothing mailed to $2)" >&2
  else
    echo "$3" | mail -s "$1" "$2" || echo "(mail to $2 failed)" >&2
  fi
}

host=$(hostname)
case "$EXIT_CODE" in
  0) ;;
  1)
    alert "Market Spine Warning" "${DATAOPS_EMAIL:-}" \
      "WARN: FINRA scheduler partial failure on $host (exit 1)"
    ;;
  *)
    # 2 is the scheduler's "critical"; anything else (killed, python missing) is as bad.
    alert "Market Spine CRITICAL" "${ONCALL_EMAIL:-}" \
      "CRITICAL: FINRA scheduler failed on $host (exit $EXIT_CODE)"
    ;;
esac

exit "$EXIT_CODE"
