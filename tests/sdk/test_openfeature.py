"""The OpenFeature provider through openfeature-sdk's own client, against a real server.

Needs the server side of issue 12 (entitlementsState) for the cached answers; the last test
(allot unreachable) needs none.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterator

import pytest
from allot_sdk import AllotClient
from allot_sdk.openfeature import AllotProvider, split_key
from openfeature import api as openfeature
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from tests.graphql.entitlements.catalog import CATALOG, apply_catalog, new_customer
from tests.graphql.usage.server import ApiServer
from tests.support import GraphQLClient, Tenant

pytestmark = pytest.mark.e2e


@pytest.fixture
def clean_providers() -> Iterator[None]:
    yield
    openfeature.clear_providers()


def test_flag_keys() -> None:
    assert split_key("seats") == ("seats", None)
    assert split_key("seats.remaining") == ("seats", "remaining")
    assert split_key("a.b.limit") == ("a.b", "limit")
    assert split_key("a.b") == ("a.b", None)  # not a known suffix: the feature id as is


async def test_flags_through_the_openfeature_client(
    api: ApiServer, tenant: Tenant, api_gql: GraphQLClient, clean_providers: None
) -> None:
    customer = f"of-{uuid.uuid4().hex[:8]}"
    await apply_catalog(api_gql, CATALOG)
    await new_customer(api_gql, customer)

    def evaluate() -> None:
        with AllotClient(api.base_url, tenant.server_key) as allot:
            openfeature.set_provider(AllotProvider(allot))
            client = openfeature.get_client()
            ctx = EvaluationContext(targeting_key=customer)
            first = client.get_boolean_details("seats", False, ctx)
            assert (first.value, first.reason, first.variant) == (
                True,
                Reason.TARGETING_MATCH,
                "granted",
            )
            cached = client.get_boolean_details("seats", False, ctx)
            assert cached.reason == Reason.CACHED
            denied = client.get_boolean_details("sso", True, ctx)
            assert (denied.value, denied.variant) == (False, "NOT_ENTITLED")
            over = EvaluationContext(targeting_key=customer, attributes={"requestedUsage": 4})
            assert client.get_boolean_value("seats", True, over) is False
            assert client.get_integer_value("seats", 0, ctx) == 3
            assert client.get_float_value("seats.limit", 0.0, ctx) == 3.0
            assert client.get_float_value("seats.remaining", 0.0, ctx) == 3.0
            assert client.get_integer_value("seats.usage", -1, ctx) == 0
            assert client.get_integer_value("retention-days", 0, ctx) == 7
            assert client.get_float_value("api-calls.remaining", 1.0, ctx) == 1000.0
            assert client.get_float_value("sso", 1.0, ctx) == 1.0  # BOOLEAN: no number
            assert client.get_string_value("regions", "", ctx) == "eu"
            assert client.get_object_value("regions.enumValues", [], ctx) == ["eu"]
            eu = EvaluationContext(targeting_key=customer, attributes={"requestedValues": ["eu"]})
            us = EvaluationContext(targeting_key=customer, attributes={"requestedValues": ["us"]})
            assert client.get_boolean_value("regions", False, eu) is True
            assert client.get_boolean_value("regions", True, us) is False
            whole = client.get_object_value("seats", {}, ctx)
            assert isinstance(whole, dict)
            assert whole["usageLimit"] == 3.0 and whole["featureType"] == "METERED"
            # Errors: the client answers the default and says why.
            missing = client.get_boolean_details("no-such-feature", True, ctx)
            assert (missing.value, missing.error_code) == (True, ErrorCode.FLAG_NOT_FOUND)
            nobody = client.get_boolean_details("seats", True, EvaluationContext())
            assert nobody.error_code == ErrorCode.TARGETING_KEY_MISSING
            mismatch = client.get_integer_details("sso.limit", 5, ctx)
            assert (mismatch.value, mismatch.error_code) == (5, ErrorCode.TYPE_MISMATCH)
            stranger = client.get_integer_details("seats", 5, EvaluationContext("nobody"))
            assert stranger.error_code == ErrorCode.INVALID_CONTEXT
            assert client.get_boolean_value("seats", True, EvaluationContext("nobody")) is False

    await asyncio.to_thread(evaluate)


def test_unreachable_allot_answers_the_fallbacks(clean_providers: None) -> None:
    with AllotClient(
        "http://127.0.0.1:9",
        "allot_sk_x",
        request_timeout=0.5,
        fallbacks={"sso": True, "seats": 10},
    ) as allot:
        openfeature.set_provider(AllotProvider(allot))
        client = openfeature.get_client()
        ctx = EvaluationContext(targeting_key="acme")
        sso = client.get_boolean_details("sso", False, ctx)
        assert (sso.value, sso.reason, sso.error_code) == (True, Reason.DEFAULT, None)
        assert sso.flag_metadata["source"] == "FALLBACK" and sso.flag_metadata["error"]
        assert client.get_integer_value("seats", 0, ctx) == 10
        assert client.get_boolean_value("other", True, ctx) is False  # the default fallback
        assert math.isinf(client.get_float_value("seats.limit", 0.0, ctx)) is False
