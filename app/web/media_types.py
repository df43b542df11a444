"""Which media type a GraphQL answer is written in (GraphQL over HTTP, its `Accept` rules).

- `application/graphql-response+json` when the client accepts it at least as much as the
  others: its status codes say what happened (400 for a request error — a document that does
  not parse or validate, variables that do not coerce, a refused budget — and then no `data`
  entry; 200 once execution started, field errors included).
- `application/json` when the client asks for it by name: the spec's codes for that type,
  200 for every well-formed request whatever its GraphQL errors (4xx only for a request that
  is not GraphQL over HTTP at all: not JSON, no `query` string, …).
- No `Accept`, or only wildcards / types we do not write: `application/json` with the status
  codes allot always answered (400 for request errors), so existing clients see no change.
- `text/html` (a browser's GET): the GraphiQL page.

The answers for the last 256 distinct headers are kept (a client sends the same one each
time), so parsing happens once per header text.
"""

from __future__ import annotations

import functools
from enum import Enum

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"


class Answer(Enum):
    GRAPHQL_RESPONSE = GRAPHQL_RESPONSE_JSON  # the spec's media type and its status codes
    JSON = APPLICATION_JSON  # asked for by name: the spec's codes for application/json
    LEGACY_JSON = "legacy"  # nothing asked: application/json with allot's historical codes
    HTML = "text/html"  # GraphiQL (GET only)

    @property
    def media_type(self) -> str:
        return GRAPHQL_RESPONSE_JSON if self is Answer.GRAPHQL_RESPONSE else APPLICATION_JSON

    def request_error_status(self) -> int:
        """The status of an answer holding a GraphQL request error (nothing executed)."""
        return 200 if self is Answer.JSON else 400


def _ranges(header: str) -> list[tuple[str, float, int]]:
    """(media range, q, position) for each entry of an Accept header (q=0 entries dropped)."""
    out = []
    for position, part in enumerate(header.split(",")):
        media, *params = part.split(";")
        media = media.strip().lower()
        if not media:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if q > 0:
            out.append((media, q, position))
    return out


def _quality(ranges: list[tuple[str, float, int]], media: str) -> tuple[float, int, int]:
    """How much the client wants `media`: (q of the most specific matching range, its
    specificity, minus its position); (0, 0, 0) when nothing matches."""
    kind = media.split("/", 1)[0]
    best = (0.0, 0, 0)
    for given, q, position in ranges:
        if given == media:
            specificity = 3
        elif given == f"{kind}/*":
            specificity = 2
        elif given == "*/*":
            specificity = 1
        else:
            continue
        if (specificity, -position) > (best[1], best[2]) or best[0] == 0:
            best = (q, specificity, -position)
    return best


@functools.lru_cache(maxsize=256)  # clients send the same few headers over and over
def negotiate(accept: str | None, html: bool = False) -> Answer:
    """The answer for an `Accept` header (`html`: a GET, where GraphiQL may be served)."""
    if accept is None or accept == "*/*" or not accept.strip():
        return Answer.LEGACY_JSON
    if accept == APPLICATION_JSON:
        return Answer.JSON
    if accept == GRAPHQL_RESPONSE_JSON:
        return Answer.GRAPHQL_RESPONSE
    ranges = _ranges(accept)
    named = [r for r in ranges if r[0] in (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)]
    candidates: list[tuple[tuple[float, int, int], int, Answer]] = []
    if named:
        # Only types named outright count here: `*/*` beside them does not make a browser.
        for order, (media, answer) in enumerate(
            ((GRAPHQL_RESPONSE_JSON, Answer.GRAPHQL_RESPONSE), (APPLICATION_JSON, Answer.JSON))
        ):
            quality = _quality(named, media)
            if quality[0] > 0:
                candidates.append((quality, -order, answer))
    if html:
        quality = _quality(ranges, "text/html")
        if quality[0] > 0 and quality[1] >= 2:  # named (or text/*): a browser
            candidates.append((quality, -2, Answer.HTML))
    if not candidates:
        return Answer.LEGACY_JSON
    # Highest q wins; between equal q, the more specific range, then our order of preference.
    candidates.sort(key=lambda c: (c[0][0], c[0][1], c[1]), reverse=True)
    return candidates[0][2]
