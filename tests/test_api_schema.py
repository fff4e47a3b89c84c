"""The OpenAPI schema says what the API answers (issue 23.16).

Schemathesis loads /api/schema/ from the WSGI app and sends a few generated requests to every operation, with an
admin API key of a team that has one of everything the API lists; an operation's `{id}` is always that team's
object, so details and actions answer with real rows rather than 404. Checks: no 5xx, and every response whose
status the schema documents matches its schema. Derandomized with a fixed number of examples, so CI sends the
same requests on every run. Each request is rolled back after its checks (schemathesis runs all operations in
one test, so one transaction): what one request creates or deletes never reaches the next.
"""

import datetime
import logging

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from audiences import services as audiences
from audiences.tests.factories import EVERYONE_BOUND_OR_NOT
from billing import services as billing
from billing.models import MonthlyBill, TransactionType
from cdp.models import CustomAttribute
from cdp.services import omo
from cdp.services.identity import merge_customers
from cdp.tests.factories import ChannelFactory, ContactFactory, TagFactory
from commerce.tests import tenancy_cases as commerce_cases
from config.wsgi import application
from coupons.tests.factories import make_campaign
from journeys import stats as journey_stats
from journeys.models import EnrollmentStep
from journeys.tests.factories import enroll_directly, message, published_journey
from messaging.models import CommentRule
from messaging.tests.factories import (
    ChatbotModuleFactory,
    KeywordRuleFactory,
    OutboundMessageFactory,
    WhatsAppTemplateFactory,
)
from omnilink.tests.tenancy_cases import campaign_for as omnilink_campaign_for
from tests.factories import api_key_for

EXAMPLES = 4  # per operation, besides the schema's own examples


@pytest.fixture
def team_objects(team):
    """{collection: id} of one object of each collection, and the raw admin API key under "key"."""
    line = ChannelFactory(team=team, kind="line", is_sandbox=True, name="LINE")
    whatsapp = ChannelFactory(team=team, kind="whatsapp", is_sandbox=True, name="WhatsApp")
    ChannelFactory(team=team, kind="web", name="Website")  # no webhook: webhook_url is null
    contacts = [ContactFactory(channel=channel) for channel in (line, line, line, whatsapp)]
    merge = merge_customers(survivor=contacts[1].customer, absorbed=contacts[2].customer, evidence={"test": True})
    module = ChatbotModuleFactory(team=team)
    journey = published_journey(team, line, [message(line, module)])
    pack = audiences.create_pack(team=team, name="Everyone", channel=line, conditions=EVERYONE_BOUND_OR_NOT)
    broadcast = audiences.create_broadcast(
        team=team, name="News", channel=line, content={"type": "module", "module_id": module.pk}, pack=pack
    )
    key = api_key_for(team)
    enrollment = enroll_directly(journey, contacts[0])
    sent = OutboundMessageFactory(
        team=team, contact=contacts[0], channel=line, origin="journey", origin_id=str(journey.pk), status="read"
    )
    EnrollmentStep.objects.create(
        team=team,
        enrollment=enrollment,
        version=journey.current_version,
        node=journey.current_version.graph["nodes"][0]["id"],
        node_type="message",
        outcome="sent",
        message_id=sent.pk,
    )
    journey_stats.refresh_team(team)  # the statistics answer with a node's refreshed message figures
    staff = omo.create_member(team=team, kind="staff", name="Amy")
    omo.add_customer(team=team, channel=whatsapp, external_id="+886912000111", member=staff)
    return {
        "key": key.raw_key,
        "api-keys": api_key_for(team, name="another key").api_key.pk,  # not the one the requests use
        "billing/bills": MonthlyBill.objects.create(team=team, month=datetime.date(2026, 10, 1), currency="TWD").pk,
        "billing/transactions": billing.credit(team, 10, type=TransactionType.TOP_UP, idempotency_key="schema").pk,
        "attributes": CustomAttribute.objects.create(team=team, key="level", label="Level", type="number").pk,
        "audiences": pack.pk,
        "broadcasts": broadcast.pk,
        "channels": line.pk,
        "chatbot-modules": module.pk,
        "contacts": contacts[0].pk,
        "coupons": make_campaign(team).pk,
        "customers": contacts[0].customer_id,
        "journey-enrollments": enrollment.pk,
        "journeys": journey.pk,
        "keyword-rules": KeywordRuleFactory(team=team, channel=line).pk,
        "comment-rules": CommentRule.objects.create(team=team, name="r", any_comment=True, reply_text="hi").pk,
        "merges": merge.pk,
        "omo/members": staff.pk,
        "omo/assignments": staff.assignments.get().pk,
        "messages": OutboundMessageFactory(contact=contacts[0]).pk,
        "tags": TagFactory(team=team, name="VIP").pk,
        "whatsapp-templates": WhatsAppTemplateFactory(channel=whatsapp).pk,
        "orders": commerce_cases.make_order(team).pk,
        "catalog/products": commerce_cases.make_product(team).pk,
        "omnilink/campaigns": omnilink_campaign_for(team).pk,
    }


@pytest.fixture
def wsgi_in_test_transaction(db):
    """The WSGI handler closes the database connection after each request; in a test that is the test's
    transaction (PostgreSQL). Django's test client disconnects the same receivers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(team_objects, wsgi_in_test_transaction):
    loaded = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
    loaded.config.update(headers={"Authorization": f"Bearer {team_objects['key']}"})
    # The schema's examples and generated requests. The coverage phase's boundary cases would take minutes; the
    # junk-input tests (tests/test_no_500.py) cover bad input.
    loaded.config.phases.update(phases=["examples", "fuzzing"])
    loaded.config.generation.update(max_examples=EXAMPLES, deterministic=True)

    @loaded.hook
    def map_path_parameters(context, path_parameters):
        if path_parameters and "id" in path_parameters:
            collection = context.operation.path.removeprefix("/api/v1/").split("/{id}")[0]
            path_parameters["id"] = team_objects[collection]
        return path_parameters

    return loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_what_its_schema_says(case, caplog):
    caplog.set_level(logging.ERROR, logger="django.request")  # the 4xx of generated junk are expected
    with transaction.atomic():  # undone after each request: every request finds the team as the fixture left it
        case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
        transaction.set_rollback(True)


def test_the_responses_issue_23_16_found_now_match_the_schema(api_schema, team_objects):
    """The five mismatches: ApiKey.key outside the create response, a null webhook_url, a customer's "" email and
    first_bound_method, a journey's "" status_reason (a new draft has no reason yet)."""
    requests = [
        ("/api/v1/api-keys/", "GET", {}, None),
        ("/api/v1/api-keys/{id}/", "GET", {"id": team_objects["api-keys"]}, None),
        ("/api/v1/api-keys/", "POST", {}, {"name": "new", "role": "marketer"}),
        ("/api/v1/channels/", "GET", {}, None),
        ("/api/v1/customers/{id}/", "GET", {"id": team_objects["customers"]}, None),
        ("/api/v1/journeys/", "POST", {}, {"name": "Draft"}),
        # found since: a rejected event's id is echoed as sent, whatever its type
        ("/api/v1/events", "POST", {}, {"events": [{"id": {}, "type": "x", "occurred_at": "2026-01-01T00:00:00Z"}]}),
    ]
    mismatches = []
    for path, method, path_parameters, body in requests:
        operation = api_schema[path][method]
        case = operation.Case(path_parameters=path_parameters, body=body, media_type="application/json")
        response = case.call(headers={"Authorization": f"Bearer {team_objects['key']}"})
        assert response.status_code < 300, (path, method, response.text)
        if not operation.is_valid_response(response):
            mismatches.append(f"{method} {path}")
    assert mismatches == []


def _request_bodies(schema):
    """(method, path, {property: its schema}) of every operation that takes a JSON body."""
    components = schema["components"]["schemas"]
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            if body is None:
                continue
            if "$ref" in body:
                body = components[body["$ref"].rsplit("/", 1)[1]]
            yield method, path, body.get("properties", {})


WRONG_VALUES = [None, {"a": 1}, ["a"], "text", 1.5, True]


def test_every_json_field_is_type_checked_before_the_database(api, team_objects):
    """Null and wrong types in each writable field of each request body (issue 22.9): a 4xx or a success, never
    a 500 (an IntegrityError or a TypeError from a value no serializer field checked)."""
    schema = api.get("/api/schema/?format=json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {team_objects['key']}")
    server_errors = []
    bodies = list(_request_bodies(schema))
    assert len(bodies) > 25  # every create, update and action with a body
    for method, path, properties in bodies:
        collection = path.removeprefix("/api/v1/").split("/")[0]
        url = path.replace("{id}", str(team_objects.get(collection, 0)))
        for name in properties:
            for value in WRONG_VALUES:
                with transaction.atomic():
                    response = getattr(api, method)(url, {name: value}, format="json")
                    transaction.set_rollback(True)
                if response.status_code >= 500:
                    server_errors.append(f"{method.upper()} {path} {name}={value!r}: {response.status_code}")
    assert server_errors == []


@pytest.mark.parametrize(
    "body,content_type",
    [
        (encode_multipart(BOUNDARY, {"name": "Form", "trigger_config": "null"}), MULTIPART_CONTENT),
        ("name=Form&trigger_config=null", "application/x-www-form-urlencoded"),
    ],
    ids=["multipart", "urlencoded"],
)
def test_the_api_takes_json_bodies_only(api, body, content_type):
    """A form body answers 415 in the API's error format (issue 22.9: a multipart journey with
    trigger_config=null was a 500, an IntegrityError, before)."""
    response = api.post("/api/v1/journeys/", body, content_type=content_type)
    assert response.status_code == 415, response.content
    assert response.json()["error"]["code"] == "unsupported_media_type"
