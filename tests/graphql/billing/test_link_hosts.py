"""Links in invoice PDFs never carry a Host header the caller chose: `ALLOT_PUBLIC_URL`, else
the request's Host only when it is one of `ALLOT_ALLOWED_HOSTS`, else a path."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pypdf
import pytest

from app.clock import FrozenClock
from app.domain.billing.invoice_links import host_allowed
from app.main import create_app
from app.settings import Settings
from tests.graphql.billing.test_documents import deal, path
from tests.support import GraphQLClient


@asynccontextmanager
async def client(
    database_url: str, clock: FrozenClock, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(database_url, settings, clock=clock)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as http:
            yield http


async def pdf_text(http: httpx.AsyncClient, url: str, host: str) -> str:
    response = await http.get(url, headers={"Host": host})
    assert response.status_code == 200, response.text
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


async def test_a_foreign_host_never_ends_up_in_the_pdf(
    bgql: GraphQLClient, database_url: str, clock: FrozenClock
) -> None:
    pdf = path((await deal(bgql))["pdfUrl"])
    async with client(database_url, clock, Settings()) as http:  # no ALLOT_PUBLIC_URL
        text = await pdf_text(http, pdf, "evil.example")
        assert "evil.example" not in text
        assert "/pay/" in text  # the link is still there, as a path on this server
        assert "http://localhost:8000/pay/" in await pdf_text(http, pdf, "localhost:8000")
    allowed = Settings(allowed_hosts=(".example.com",))
    async with client(database_url, clock, allowed) as http:
        assert "http://billing.example.com/pay/" in await pdf_text(http, pdf, "billing.example.com")
        assert "evil.example" not in await pdf_text(http, pdf, "evil.example")
        assert "example.com.evil.example" not in await pdf_text(
            http, pdf, "example.com.evil.example"
        )
    public = Settings(public_url="https://pay.example.net", allowed_hosts=("*",))
    async with client(database_url, clock, public) as http:
        text = await pdf_text(http, pdf, "evil.example")
        assert "https://pay.example.net/pay/" in text and "evil.example" not in text


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("localhost:8000", ("localhost",), True),
        ("LOCALHOST", ("localhost",), True),
        ("[::1]:8000", ("[::1]",), True),
        ("evil.example", ("localhost",), False),
        ("a.example.com", (".example.com",), True),
        ("example.com", (".example.com",), True),
        ("badexample.com", (".example.com",), False),
        ("localhost/evil", ("localhost",), False),
        ("localhost@evil.example", ("localhost",), False),
        ("", ("localhost",), False),
        ("anything.example", ("*",), True),
    ],
)
def test_host_allowed(host: str, allowed: tuple[str, ...], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected
