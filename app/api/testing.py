"""Test-only endpoints, mounted only with ``BACKCHANNEL_TEST_HOOKS=1``. Never in production.

``POST /api/v1/_test/clock {"advance_s": 300}`` moves this process's clock forward and
returns once the scheduler has fired whatever that made due, so tests move time instead
of sleeping.
"""

from typing import Any

from fastapi import APIRouter, Body

from app.clock import clock, iso
from app.deps import ServicesDep
from app.errors import InvalidInput

router = APIRouter(prefix="/api/v1/_test", tags=["test hooks"], include_in_schema=False)


@router.post("/clock")
async def advance_clock(services: ServicesDep, payload: Any = Body(...)) -> dict[str, Any]:
    advance = payload.get("advance_s", 0) if isinstance(payload, dict) else None
    if not isinstance(advance, int | float) or isinstance(advance, bool) or advance < 0:
        raise InvalidInput("advance_s must be a number of seconds >= 0")
    clock.advance(float(advance))
    if services.scheduler is not None:
        await services.scheduler.poke()
    return {"now": iso(clock.now_ms()), "offset_ms": clock.offset_ms}
