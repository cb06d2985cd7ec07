"""Market Spine settings: everything comes from environment variables (see README)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

from marketspine.env import (
    cache_config,
    database_config,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_rate,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("MARKETSPINE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", False)
TESTING = env_bool("MARKETSPINE_TESTING", False)

_DEV_SECRET_KEY = "insecure-development-key-do-not-use-in-production"
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET_KEY)
if not (DEBUG or TESTING) and SECRET_KEY == _DEV_SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a private value when DEBUG is off "
        "(for local development, set DEBUG=true instead)"
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# GET /healthz stays plain HTTP for probes even if LivenessMiddleware is moved down the stack.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

INSTALLED_APPS = [
    "marketspine.apps.MarketSpineAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # Kept installed only for its migrations: 0004_roles depends on them and 0009_api_tokens
    # hashes its plaintext rows into workqueue.ApiToken; nothing reads it afterwards. Before
    # workqueue, whose admin takes its token page off the site.
    "rest_framework.authtoken",
    # Before django_q, so workqueue's qcluster command (prompt shutdown) replaces django-q2's.
    "workqueue",
    "django_q",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "finra",
]

MIDDLEWARE = [
    # GET /healthz for probes that reach the pod by its IP over plain HTTP: answered before the
    # host check and the https redirect below, which still apply to every other path.
    "marketspine.liveness.LivenessMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Serves STATIC_ROOT (filled by collectstatic) under gunicorn with DEBUG off.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "marketspine.urls"
WSGI_APPLICATION = "marketspine.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# SQLite needs no server; PostgreSQL is selected with DATABASE_URL=postgres://...
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'marketspine.sqlite3'}")
_database = database_config(DATABASE_URL)
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Internationalisation and time ----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True  # stored in UTC; converted at the edges

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"

# --- Security (manage.py check --deploy is clean with DEBUG off) ----------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG and not TESTING)
# X-Forwarded-Proto is believed only when a TLS-terminating proxy in front sets it (and strips
# any the client sent); otherwise any client could claim its plain-HTTP request was HTTPS.
TRUST_X_FORWARDED_PROTO = env_bool("TRUST_X_FORWARDED_PROTO", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUST_X_FORWARDED_PROTO else None
SESSION_COOKIE_SECURE = not DEBUG and not TESTING
CSRF_COOKIE_SECURE = not DEBUG and not TESTING
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if (DEBUG or TESTING) else 3600, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading is a commitment browsers keep for months: only a deployer can make it.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# check --deploy warns (W021) while preload is off; off is the deliberate default above.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Sign-in: ModelBackend behind django-axes' lockout --------------------------------------
AUTHENTICATION_BACKENDS = [
    "marketspine.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five wrong passwords for one username from one address lock that pair out for 15 minutes;
# a correct password before that clears the count. Staff unlock early by deleting the access
# attempt in the admin (Administration > Access attempts) or with manage.py axes_reset.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# The same address the audit log records: REMOTE_ADDR, or X-Forwarded-For only from a proxy
# listed in API_TRUSTED_PROXIES (django-ipware would believe any client's header).
AXES_CLIENT_IP_CALLABLE = "marketspine.api.addresses.client_address"
# Sign-ins and failures are already in the audit log; axes keeps only its attempt counters.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- Cache: API throttle counters ------------------------------------------------------------
# Local memory by default, which counts per process (each gunicorn worker throttles alone);
# CACHE_URL=redis://... (default: REDIS_URL when set) gives one count shared by every worker.
CACHES = {"default": cache_config(env_str("CACHE_URL", os.environ.get("REDIS_URL", "")))}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {
        "django-q": {"level": env_str("DJANGO_Q_LOG_LEVEL", "WARNING").upper()},
        # Lockouts are audited; axes' own INFO/WARNING per failed attempt is noise.
        "axes": {"level": "ERROR"},
    },
}

# --- Work queue -----------------------------------------------------------------------------
WORKQUEUE_MAX_ATTEMPTS = env_int("WORKQUEUE_MAX_ATTEMPTS", 3, minimum=1)
WORKQUEUE_RETRY_BASE_SECONDS = env_float("WORKQUEUE_RETRY_BASE_SECONDS", 300.0, minimum=0)
WORKQUEUE_RETRY_FACTOR = env_float("WORKQUEUE_RETRY_FACTOR", 3.0, minimum=1)
WORKQUEUE_RETRY_MAX_SECONDS = env_float("WORKQUEUE_RETRY_MAX_SECONDS", 3600.0, minimum=0)
# A RUNNING item's lease: a worker that stops renewing it (SIGKILL, a lost host) has its items
# recovered by the reaper, which runs every minute, so within about two minutes by default.
# Heartbeats renew it however long a run takes: a live run is never reaped.
WORKQUEUE_LEASE_SECONDS = env_float("WORKQUEUE_LEASE_SECONDS", 60.0, minimum=1)
# A quarter of the lease leaves three missed beats of slack (a database restart, a stalled
# host) before the reaper may take an item from a live worker.
WORKQUEUE_HEARTBEAT_SECONDS = env_float(
    "WORKQUEUE_HEARTBEAT_SECONDS", WORKQUEUE_LEASE_SECONDS / 4, minimum=0.1
)
if WORKQUEUE_HEARTBEAT_SECONDS >= WORKQUEUE_LEASE_SECONDS:
    raise ImproperlyConfigured("WORKQUEUE_HEARTBEAT_SECONDS must be shorter than the lease")
WORKQUEUE_DEPENDENCY_RETRY_SECONDS = env_float(
    "WORKQUEUE_DEPENDENCY_RETRY_SECONDS", 60.0, minimum=0
)
WORKQUEUE_DEPENDENCY_WAIT_LIMIT_SECONDS = env_float(
    "WORKQUEUE_DEPENDENCY_WAIT_LIMIT_SECONDS", 7 * 24 * 3600.0, minimum=0
)
# How long one django-q2 task keeps claiming batches before handing over to a fresh task. On
# SIGTERM a drain stops at once instead: the item running finishes, the rest of its batch goes
# back to PENDING unspent, no further drain is queued (workqueue.cluster).
WORKQUEUE_DRAIN_SECONDS = env_float("WORKQUEUE_DRAIN_SECONDS", 30.0, minimum=0.1)
WORKQUEUE_MAX_BATCH = env_int("WORKQUEUE_MAX_BATCH", 200, minimum=1)
WORKQUEUE_BATCH_TARGET_SECONDS = env_float("WORKQUEUE_BATCH_TARGET_SECONDS", 1.0, minimum=0.01)
WORKQUEUE_KICK_ON_ENQUEUE = env_bool("WORKQUEUE_KICK_ON_ENQUEUE", not TESTING)
WORKQUEUE_PIPELINE_MODULES = env_list("WORKQUEUE_PIPELINE_MODULES", [])
# A work item's params, as canonical JSON, may not exceed this: params steer a run (a source, a
# flag); bulky input travels by reference (file_path, file_url).
WORKQUEUE_MAX_PARAMS_BYTES = env_int("WORKQUEUE_MAX_PARAMS_BYTES", 16 * 1024, minimum=256)
WORKQUEUE_TASK_TIMEOUT_SECONDS = env_int("WORKQUEUE_TASK_TIMEOUT_SECONDS", 4 * 3600, minimum=60)

# --- FINRA OTC Transparency ---------------------------------------------------------------
# Weekly files are read from FINRA_DATA_DIR/<week_ending>/<TIER>.psv (see README).
FINRA_DATA_DIR = Path(env_str("FINRA_DATA_DIR", str(BASE_DIR / "data" / "finra")))
FINRA_MAX_REJECT_RATIO = env_float("FINRA_MAX_REJECT_RATIO", 0.01, minimum=0)
# params.file_url may only name hosts listed here (no requests to arbitrary addresses).
FINRA_ALLOWED_HOSTS = env_list("FINRA_ALLOWED_HOSTS", ["finra.org", "api.finra.org"])
FINRA_DOWNLOAD_MAX_BYTES = env_int("FINRA_DOWNLOAD_MAX_BYTES", 512 * 1024 * 1024, minimum=1)
FINRA_DOWNLOAD_TIMEOUT_SECONDS = env_float("FINRA_DOWNLOAD_TIMEOUT_SECONDS", 60.0, minimum=0.1)
FINRA_API_BASE_URL = env_str("FINRA_API_BASE_URL", "https://api.finra.org")
FINRA_API_PAGE_SIZE = env_int("FINRA_API_PAGE_SIZE", 5000, minimum=1)
FINRA_API_MAX_RETRIES = env_int("FINRA_API_MAX_RETRIES", 5, minimum=0)
FINRA_API_BACKOFF_SECONDS = env_float("FINRA_API_BACKOFF_SECONDS", 2.0, minimum=0)
# Hours after 10:00 New York on FINRA's publication date before a missing week counts as overdue.
FINRA_PUBLICATION_GRACE_HOURS = env_int("FINRA_PUBLICATION_GRACE_HOURS", 6, minimum=0)

# --- django-q2: an executor only; core_work_items owns state and retries ---------------------
QCLUSTER_TIME_ZONE = env_str("QCLUSTER_TIME_ZONE", "America/New_York")
try:
    ZoneInfo(QCLUSTER_TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"QCLUSTER_TIME_ZONE={QCLUSTER_TIME_ZONE!r} is not a time zone (e.g. America/New_York)"
    ) from None
WORKQUEUE_BROKER = env_choice("WORKQUEUE_BROKER", "orm", ("orm", "redis"))
Q_CLUSTER: dict[str, object] = {
    "name": env_str("QCLUSTER_NAME", "marketspine"),
    "workers": env_int("QCLUSTER_WORKERS", 2, minimum=1),
    "timeout": WORKQUEUE_TASK_TIMEOUT_SECONDS,
    "retry": WORKQUEUE_TASK_TIMEOUT_SECONDS + 600,  # longer than timeout, or tasks run twice
    "max_attempts": 1,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": env_int("QCLUSTER_SAVE_LIMIT", 500),
    "poll": env_float("QCLUSTER_POLL_SECONDS", 0.1, minimum=0.01),
    "label": "Task engine (django-q2)",
    # Cron schedules are evaluated in this zone, not TIME_ZONE: the weekly FINRA run is "Monday
    # 10:30 in New York" all year, whatever zone the server or the UI uses.
    "time_zone": QCLUSTER_TIME_ZONE,
    # django-q2 sets its "django-q" logger's level itself from here.
    "log_level": env_str("DJANGO_Q_LOG_LEVEL", "WARNING").upper(),
}
if WORKQUEUE_BROKER == "redis":
    Q_CLUSTER["redis"] = env_str("REDIS_URL", "redis://127.0.0.1:6379/0")
else:
    Q_CLUSTER["orm"] = "default"

# --- REST API v1 (marketspine.api, workqueue.api, finra.api) ----------------------------------
# API keys: only their SHA-256 digest is stored, in this model (see marketspine.api.authentication).
API_TOKEN_MODEL = "workqueue.ApiToken"
# A token's last_used_at is written at most this often (not on every request).
API_TOKEN_LAST_USED_INTERVAL_SECONDS = env_float(
    "API_TOKEN_LAST_USED_INTERVAL_SECONDS", 60.0, minimum=0
)
# Requests per token (or per signed-in user) before 429; "off" disables. The default is far
# above any cron job or benchmark: it stops a runaway script, not ordinary use.
API_THROTTLE_RATE = env_rate("API_THROTTLE_RATE", "36000/min")
# Token first: an anonymous request gets 401 with "WWW-Authenticate: Token". Sessions serve the
# browsable API and the docs page for staff logged in through the admin.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "marketspine.api.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["marketspine.api.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "EXCEPTION_HANDLER": "marketspine.api.errors.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["marketspine.api.throttling.TokenRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Market Spine API",
    "DESCRIPTION": "Enqueue, inspect, retry and cancel work items; read the stage manifest.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One enqueue result in two components (one item, a bulk list's element): one enum name.
    "ENUM_NAME_OVERRIDES": {
        "EnqueueStatusEnum": ["created", "existing", "rearmed", "finished"],
    },
}
# Request bodies above this size are refused with 413 (a bulk enqueue of 1000 items is ~300 KB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("API_MAX_BODY_BYTES", 5 * 1024 * 1024, minimum=1024)
# Proxies whose X-Forwarded-For is believed for the client address in audit events; none by
# default, so the address is the socket peer (REMOTE_ADDR).
API_TRUSTED_PROXIES = env_list("API_TRUSTED_PROXIES", [])
# GET /api/v1/health answers 503 when items are due but no worker was seen for this long.
HEALTH_MAX_WORKER_AGE_SECONDS = env_float("HEALTH_MAX_WORKER_AGE_SECONDS", 300.0, minimum=1)
# GET /metrics (Prometheus) needs "Authorization: Bearer <METRICS_TOKEN>" when it is set; open
# when it is unset or empty.
METRICS_TOKEN = env_str("METRICS_TOKEN", "").strip()
