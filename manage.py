#!/usr/bin/env python
"""Django's command-line utility for Market Spine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent

#: Exit code for a configuration that stops start-up: the scheduler's "critical" code, which
#: the cron wrappers page on.
EXIT_BAD_CONFIGURATION = 2


def main() -> None:
    from django.core.exceptions import ImproperlyConfigured

    from marketspine.env import configuration_error_line, load_env_file

    try:
        # A laptop's .env (written by `make run`) fills in what the environment leaves unset.
        load_env_file(PROJECT_DIR)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "marketspine.settings")
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - loads the settings, where bad configuration shows
    except ImproperlyConfigured as exc:
        sys.stderr.write(configuration_error_line("manage.py", exc))
        sys.exit(EXIT_BAD_CONFIGURATION)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
