"""The insights root: numbers across the environment's customers (server keys only)."""

from __future__ import annotations

import strawberry

from app.schema.common import ServerKeyOnly
from app.schema.insight_types import Insights


@strawberry.type
class InsightsQuery:
    @strawberry.field(
        description="Numbers across the environment's customers: per plan, per status, "
        'trials ending, limits, usage, revenue (docs/console.md, "Insights").',
        permission_classes=[ServerKeyOnly],
    )
    def insights(self) -> Insights:
        return Insights()
