from tests.support import GraphQLClient


async def test_environment_query(gql: GraphQLClient) -> None:
    data = await gql.execute("{ environment { slug } }")
    assert data == {"environment": {"slug": "development"}}


async def test_create_and_read_feature(gql: GraphQLClient) -> None:
    payload = await gql.mutate(
        'mutation { createFeature(input: {id: "seats", type: METERED, unit: "seat"}) '
        "{ feature { id type unit } errors { code message field } } }"
    )
    assert payload == {"feature": {"id": "seats", "type": "METERED", "unit": "seat"}, "errors": []}
    data = await gql.execute("{ features { totalCount edges { node { id } } } }")
    assert data["features"]["totalCount"] == 1
