"""Params checked at the door: every way in refuses an unknown key or a bad value, naming it,
and writes nothing; params are capped in size."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from workqueue.fields import canonical_json
from workqueue.models import AuditEvent, WorkItem

pytestmark = pytest.mark.django_db

URL = "/api/v1/work/enqueue"
DOMAIN = "finra.otc_transparency"
KEY = {"week_ending": "2025-12-19", "tier": "OTC"}
INGEST = {"domain": DOMAIN, "pipeline": "ingest_week", "partition_key": KEY}
ACCEPTED = "chain, file_path, file_url, force, source, tier"


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body["error"]) == {"code", "message", "fields"}
    return body["error"]


def nothing_written() -> bool:
    """No item and no audit event besides the one that issued the client's token."""
    events = AuditEvent.objects.exclude(action="api_token_create")
    return not WorkItem.objects.exists() and not events.exists()


def test_a_typo_in_params_is_refused_instead_of_ingesting_the_default_file(api):
    body = {**INGEST, "params": {"file_pth": "drops/otc.psv"}}

    error = error_of(api.post(URL, body, format="json"), 400)

    assert error["code"] == "invalid_params"
    assert error["message"] == (
        f"params for {DOMAIN}/ingest_week: file_pth: unknown param (accepted: {ACCEPTED})"
    )
    assert error["fields"] == {"params.file_pth": f"unknown param (accepted: {ACCEPTED})"}
    assert nothing_written()


@pytest.mark.parametrize(
    ("params", "field", "fragment"),
    [
        ({"file_path": "../../etc/passwd"}, "file_path", "resolves outside FINRA_DATA_DIR"),
        (
            {"file_url": "https://evil.example/otc.psv"},
            "file_url",
            "host evil.example is not in FINRA_ALLOWED_HOSTS",
        ),
        ({"file_url": "https://user:pw@finra.org/x"}, "file_url", "has user information"),
        ({"force": "true"}, "force", "must be true or false, not a string"),
        ({"tier": "NMS_TIER_1"}, "tier", "disagrees with the partition's tier OTC"),
        ({"source": "s3"}, "source", "must be one of file, api, not 's3'"),
    ],
)
def test_bad_values_are_refused_naming_the_param(api, params, field, fragment):
    error = error_of(api.post(URL, {**INGEST, "params": params}, format="json"), 400)

    assert error["code"] == "invalid_params"
    assert fragment in error["message"]
    assert list(error["fields"]) == [f"params.{field}"]
    assert fragment in error["fields"][f"params.{field}"]
    assert nothing_written()


def test_the_guide_and_cron_script_params_are_accepted(api):
    bodies = [
        {**INGEST, "params": {"file_url": "https://finra.org/.../otc_20251222.csv"}},
        {
            **INGEST,
            "partition_key": {**KEY, "tier": "NMS_TIER_1"},
            "params": {"tier": "NMS_TIER_1"},
        },
        {**INGEST, "partition_key": {**KEY, "tier": "NMS_TIER_2"}, "params": {"tier": "T2"}},
        {**INGEST, "pipeline": "compute_hhi", "params": {"chain": False, "tier": "OTC"}},
        {**INGEST, "pipeline": "normalize_week", "params": {}},
    ]
    for body in bodies:
        assert api.post(URL, body, format="json").status_code == 201, body
    assert WorkItem.objects.count() == len(bodies)


def test_a_bulk_enqueue_with_bad_params_names_each_item_and_writes_none(api):
    body = [
        {**INGEST, "partition_key": {**KEY, "tier": tier}, "params": params}
        for tier, params in [
            ("NMS_TIER_1", {"source": "api"}),
            ("NMS_TIER_2", {"file_pth": "x.psv"}),
            ("OTC", {"file_url": "http://10.0.0.1/otc.psv"}),
        ]
    ]

    error = error_of(api.post(URL, body, format="json"), 400)

    assert error["code"] == "invalid_params"
    assert error["message"].startswith("2 of 3 items are invalid: [1].params for ")
    assert set(error["fields"]) == {"[1].params.file_pth", "[2].params.file_url"}
    assert nothing_written()


def test_params_are_capped_at_16_kb_of_json(api):
    at_limit = {"file_url": "https://finra.org/" + "x" * (16 * 1024 - 33)}
    assert len(canonical_json(at_limit).encode("utf-8")) == 16 * 1024
    assert api.post(URL, {**INGEST, "params": at_limit}, format="json").status_code == 201

    over = {"file_url": at_limit["file_url"] + "x"}
    body = {**INGEST, "partition_key": {**KEY, "tier": "T1"}, "params": over}
    error = error_of(api.post(URL, body, format="json"), 413)

    assert error["code"] == "params_too_large"
    assert error["message"].startswith("params is 16,385 bytes of JSON; at most 16,384")
    assert error["fields"] == {"params": "larger than 16,384 bytes"}
    assert WorkItem.objects.count() == 1


def test_the_cap_is_a_setting(api, settings):
    settings.WORKQUEUE_MAX_PARAMS_BYTES = 300
    body = {**INGEST, "params": {"file_url": "https://finra.org/" + "x" * 300}}

    assert error_of(api.post(URL, body, format="json"), 413)["code"] == "params_too_large"


def test_backfill_refuses_bad_params_even_in_a_dry_run(api):
    body = {
        "domain": DOMAIN,
        "pipeline": "ingest_week",
        "from": "2025-12-01",
        "to": "2025-12-31",
        "tiers": ["OTC"],
        "params": {"forse": True},
    }
    for dry_run in (True, False):
        response = api.post("/api/v1/work/backfill", {**body, "dry_run": dry_run}, format="json")
        error = error_of(response, 400)
        assert error["code"] == "invalid_params"
        assert error["fields"] == {"params.forse": f"unknown param (accepted: {ACCEPTED})"}
    assert nothing_written()


def test_backfill_names_the_partition_a_tier_param_disagrees_with(api):
    body = {
        "domain": DOMAIN,
        "pipeline": "ingest_week",
        "from": "2025-12-05",
        "to": "2025-12-05",
        "params": {"tier": "NMS_TIER_1"},
    }

    error = error_of(api.post("/api/v1/work/backfill", body, format="json"), 400)

    assert "disagrees with the partition's tier NMS_TIER_2" in error["message"]
    assert error["message"].endswith(
        '(for partition {"tier":"NMS_TIER_2","week_ending":"2025-12-05"})'
    )
    assert nothing_written()


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("enqueue", ["ingest_week", "--partition", '{"week_ending": "2025-12-19", "tier": "OTC"}']),
        ("backfill", ["ingest_week", "--from", "2025-12-05", "--to", "2025-12-19"]),
    ],
)
def test_the_commands_refuse_bad_params_with_exit_1(command, args):
    with pytest.raises(CommandError) as caught:
        call_command(command, DOMAIN, *args, "--params", '{"file_pth": "x"}', stdout=StringIO())

    assert caught.value.returncode == 1
    assert f"file_pth: unknown param (accepted: {ACCEPTED})" in str(caught.value)
    assert nothing_written()


# --- params in list answers ---------------------------------------------------------------------


@pytest.fixture
def three_ingests(api) -> list[dict]:
    bodies = [
        {**INGEST, "partition_key": {**KEY, "tier": tier}, "params": {"tier": tier}}
        for tier in ("NMS_TIER_1", "NMS_TIER_2", "OTC")
    ]
    response = api.post(URL, bodies, format="json")
    assert response.status_code == 201
    return response.json()


def test_a_bulk_answer_leaves_params_out_unless_asked(api, three_ingests):
    assert [set(result) & {"params", "id", "status"} for result in three_ingests] == [
        {"id", "status"}
    ] * 3
    again = [{**INGEST, "partition_key": {**KEY, "tier": "OTC"}, "params": {"tier": "OTC"}}] * 2

    answer = api.post(f"{URL}?include=params", again, format="json").json()

    assert [(r["status"], r["params"]) for r in answer] == [("existing", {"tier": "OTC"})] * 2


def test_pending_lists_leave_params_out_unless_asked(api, three_ingests):
    plain = api.get("/api/v1/work/pending?state=PENDING").json()
    asked = api.get("/api/v1/work/pending?state=PENDING&include=params").json()

    assert len(plain["pending"]) == 3
    assert not any("params" in item for item in plain["pending"])
    assert plain["pending"][0]["partition_key"] == asked["pending"][0]["partition_key"]
    assert sorted(item["params"]["tier"] for item in asked["pending"]) == [
        "NMS_TIER_1",
        "NMS_TIER_2",
        "OTC",
    ]


def test_single_item_answers_keep_their_params(api, three_ingests):
    item_id = three_ingests[0]["id"]

    detail = api.get(f"/api/v1/work/items/{item_id}").json()
    single = api.post(URL, {**INGEST, "partition_key": {**KEY, "tier": "T1"}}, format="json")
    cancelled = api.post("/api/v1/work/cancel", {"work_item_id": item_id}, format="json").json()

    assert detail["params"] == {"tier": "NMS_TIER_1"}
    assert single.json()["params"] == {"tier": "NMS_TIER_1"}
    assert cancelled["params"] == {"tier": "NMS_TIER_1"}


def test_an_unknown_include_is_refused(api):
    error = error_of(api.get("/api/v1/work/pending?include=params,executions"), 400)

    assert error["code"] == "invalid_request"
    assert error["message"] == "unknown include executions; known: params"
    assert error["fields"] == {"include": "unknown name"}


def test_a_long_list_without_params_does_not_read_them(api, django_assert_max_num_queries):
    for n in range(1, 4):
        body = {**INGEST, "partition_key": {**KEY, "week_ending": f"2025-10-{n * 7 - 4:02d}"}}
        params = {"file_url": "https://finra.org/" + "x" * 8000}
        assert api.post(URL, {**body, "params": params}, format="json").status_code == 201
    with django_assert_max_num_queries(6):
        answer = api.get("/api/v1/work/pending?state=PENDING")
    assert answer.status_code == 200
    assert len(answer.content) < 3 * 1000
