"""The web and worker Deployments: what they run, their probes and their shutdown grace; and
deploy/readiness.py, the web pods' readiness probe, against a live server."""

from __future__ import annotations

import runpy

import pytest

from tests.deploy.conftest import LIVE_DB, REPO, python, run
from tests.deploy.test_deploy_files import documents, pods
from tests.factories import enqueue

READINESS_PY = REPO / "deploy" / "readiness.py"
WEB_MANIFESTS = [REPO / "deploy" / "k8s" / "market-spine-web.yaml"]
WORKER_MANIFESTS = [REPO / "deploy" / "k8s" / "market-spine-worker.yaml"]
OPENSHIFT = REPO / "deploy" / "openshift" / "market-spine.yaml"
RESTRICTED = {
    "allowPrivilegeEscalation": False,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def deployment(manifest, component: str) -> dict:
    [found] = [
        d
        for d in documents(manifest)
        if d["kind"] == "Deployment" and d["metadata"]["labels"]["component"] == component
    ]
    return found


def web_deployments() -> list[dict]:
    return [deployment(m, "web") for m in [*WEB_MANIFESTS, OPENSHIFT]]


def worker_deployments() -> list[dict]:
    return [deployment(m, "worker") for m in [*WORKER_MANIFESTS, OPENSHIFT]]


def gunicorn_config(**env: str) -> dict:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        return runpy.run_path(str(REPO / "deploy" / "gunicorn.conf.py"))


def test_web_pods_probe_liveness_on_healthz_and_readiness_with_a_token():
    for web in web_deployments():
        pod = web["spec"]["template"]["spec"]
        [container] = pod["containers"]
        port = container["ports"][0]
        assert port["containerPort"] == 8000
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port["name"]}
        assert container["readinessProbe"]["exec"]["command"] == ["python", "deploy/readiness.py"]
        env = {variable["name"]: variable for variable in container["env"]}
        assert env["MARKET_SPINE_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == (
            "market-spine-probe-token"
        )
        assert env["ALLOWED_HOSTS"]["value"]
        assert container["command"] == [
            "gunicorn",
            "--config=deploy/gunicorn.conf.py",
            "marketspine.wsgi",
        ]
        # gunicorn lets requests in flight finish before the kubelet's SIGKILL.
        assert pod["terminationGracePeriodSeconds"] > gunicorn_config()["graceful_timeout"]


def test_the_web_service_is_the_one_the_enqueue_cronjob_calls_and_selects_the_web_pods():
    for manifest in [*WEB_MANIFESTS, OPENSHIFT]:
        [service] = [d for d in documents(manifest) if d["kind"] == "Service"]
        assert service["metadata"]["name"] == "market-spine-web"
        labels = deployment(manifest, "web")["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    cronjob = (REPO / "deploy" / "k8s" / "finra-weekly-enqueue.yaml").read_text()
    assert "--api-base=http://market-spine-web/api/v1" in cronjob


def test_worker_pods_run_qcluster_with_time_for_running_items_to_finish():
    for worker in worker_deployments():
        pod = worker["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["command"] == ["python", "manage.py", "qcluster"]
        # Several minutes: an ingest in progress finishes before the pod is killed.
        assert pod["terminationGracePeriodSeconds"] >= 120
        assert {"DATABASE_URL", "SECRET_KEY", "FINRA_DATA_DIR"} <= {
            variable["name"] for variable in container["env"]
        }


def test_migrations_run_once_per_release_in_a_job():
    [job] = documents(REPO / "deploy" / "k8s" / "market-spine-migrate.yaml")
    assert job["kind"] == "Job"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "manage.py", "migrate", "--no-input"]


def test_openshift_web_and_workers_fit_the_restricted_scc():
    for pod in pods(OPENSHIFT):
        assert pod["serviceAccountName"] == "market-spine"
        assert "securityContext" not in pod  # OpenShift assigns the uid and fsGroup
        for container in pod["containers"]:
            assert container["securityContext"] == RESTRICTED


def test_gunicorn_config_takes_its_worker_count_and_timeouts_from_the_environment():
    config = gunicorn_config(WEB_CONCURRENCY="3", GUNICORN_TIMEOUT_SECONDS="90")

    assert config["workers"] == 3
    assert config["timeout"] == 90
    assert config["graceful_timeout"] == 30
    assert config["bind"] == "0.0.0.0:8000"


def test_gunicorn_config_refuses_a_bad_timeout_in_one_line():
    result = run(
        [python(), str(REPO / "deploy" / "gunicorn.conf.py")],
        env={"GUNICORN_TIMEOUT_SECONDS": "soon"},
    )

    assert result.returncode == 1
    assert result.stderr == (
        "gunicorn.conf.py: configuration error: GUNICORN_TIMEOUT_SECONDS='soon' must be a "
        "whole number of seconds, at least 1\n"
    )


def readiness(server, *, token: str, **env: str):
    return run(
        [python(), str(READINESS_PY)],
        env={
            "MARKET_SPINE_TOKEN": token,
            "PROBE_URL": f"{server.api_base}/health",
            "ALLOWED_HOSTS": "localhost,spine.example.com",
            **env,
        },
    )


@LIVE_DB
def test_readiness_passes_when_the_app_answers_the_token_and_reaches_its_database(server):
    result = readiness(server, token=server.token)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "readiness: healthy\n"


@LIVE_DB
def test_readiness_passes_when_only_the_workers_are_missing(server):
    enqueue()  # due now, and no worker has ever beaten

    result = readiness(server, token=server.token)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("readiness: ready (database ok; the queue reports: 1 item(s)")


@LIVE_DB
def test_readiness_fails_on_a_refused_token(server):
    result = readiness(server, token="not-a-token")

    assert result.returncode == 1
    assert result.stderr.startswith("readiness: HTTP 401: ")


def test_readiness_fails_when_nothing_answers_or_without_a_token():
    nothing = run(
        [python(), str(READINESS_PY)],
        env={"MARKET_SPINE_TOKEN": "t", "PROBE_URL": "http://127.0.0.1:9/api/v1/health"},
    )
    assert nothing.returncode == 1
    assert nothing.stderr.startswith("readiness: no answer from http://127.0.0.1:9/api/v1/health")

    no_token = run([python(), str(READINESS_PY)], env={})
    assert no_token.returncode == 1
    assert no_token.stderr == "readiness: MARKET_SPINE_TOKEN is not set\n"


def test_readiness_fails_when_the_database_is_unreachable():
    verdict = runpy.run_path(str(READINESS_PY))["is_ready"]
    body = {"status": "unhealthy", "database": "unreachable", "problems": ["database down"]}

    assert verdict(503, body) == (False, "HTTP 503: database down")
    assert verdict(200, {"status": "ok", "database": "ok"}) == (True, "healthy")
