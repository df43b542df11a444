"""Floor (a): a bare Starlette route doing one asyncpg primary-key select. No auth, no
GraphQL, no domain: the cost of HTTP + one round trip on this machine."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

POOL: dict[str, asyncpg.Pool] = {}


async def row(request: Request) -> Response:
    async with POOL["pool"].acquire() as conn:
        found = await conn.fetchrow(
            "SELECT pk, id, name FROM customers WHERE pk = $1::uuid",
            request.path_params["customer_id"],
        )
    body = {"id": found["id"], "name": found["name"]} if found else None
    return Response(orjson.dumps(body), media_type="application/json")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    POOL["pool"] = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=8)
    yield
    await POOL["pool"].close()


app = Starlette(routes=[Route("/row/{customer_id}", row)], lifespan=lifespan)
