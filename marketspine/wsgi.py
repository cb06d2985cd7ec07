"""The WSGI application for gunicorn (``gunicorn marketspine.wsgi``).

It reads no env file: a server's configuration is its environment. A configuration error is one
line on stderr, and exit code 4, gunicorn's "App failed to load": the master stops at once
instead of logging a traceback per worker and booting workers again and again.
"""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

from marketspine.env import configuration_error_line

APP_LOAD_ERROR = 4

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketspine.settings")
try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:
    sys.stderr.write(configuration_error_line("marketspine.wsgi", exc))
    sys.stderr.flush()
    raise SystemExit(APP_LOAD_ERROR) from None
