"""The per-request context handed to every resolver."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from app.auth import Principal
from app.clock import Clock
from app.db import Database
from app.settings import Settings

if TYPE_CHECKING:
    from app.schema.loaders import Loaders


@dataclass
class Context:
    """Who is calling (principal), the database, the clock, and this request's loaders.

    Loaders are built per request so nothing is cached across callers or environments.
    """

    db: Database
    principal: Principal
    settings: Settings
    clock: Clock
    request_id: str
    services: Any = None
    # Set when the CLI drives the API in-process (`serve --demo`): changes are audited as
    # that command (actor kind `cli`), not as an API key.
    cli_command: str | None = None
    # The query text this context runs and its checked document (app/schema/documents.py),
    # handed from the HTTP layer to the executor so a document the checker does not keep is
    # not parsed and validated again.
    checked: tuple[str, Any] | None = None
    # Builds this request's loaders (app/schema/loaders.py `Loaders`): given by whoever
    # makes the context, so the context does not import the types the loaders build.
    make_loaders: Callable[[Database, Any, Clock], Loaders] | None = field(default=None, repr=False)
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            assert self.make_loaders is not None, "Context(make_loaders=Loaders, …)"
            self._loaders = self.make_loaders(self.db, self.principal.environment_pk, self.clock)
        return self._loaders

    @property
    def environment_pk(self) -> Any:
        return self.principal.environment_pk

    def now(self) -> datetime:
        return self.clock.now()
