from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django_q.management.commands.qcluster import Command as DjangoQCommand

from workqueue.cluster import GracefulCluster


class Command(DjangoQCommand):
    help = (
        "Start a django-q2 cluster that runs work items. It drains due items as soon as it "
        "starts; on SIGTERM it claims nothing new, hands back claimed items it had not started "
        "and exits once the items running have finished."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        """django-q2's own qcluster, with :class:`GracefulCluster` in place of its Cluster."""
        settings.SECRET_KEY  # noqa: B018 - signing needs it: fail before starting, as django-q2 does
        if options.get("cluster_name"):
            os.environ["Q_CLUSTER_NAME"] = options["cluster_name"]
        cluster = GracefulCluster()
        cluster.start()
        if options.get("run_once", False):
            cluster.stop()
