"""The backends are picked once by the broker URL, and memory:// never loads redis-py."""

import subprocess
import sys

import pytest

from app.ratelimit import LocalLimiter
from app.realtime.backends import from_url, is_single_process
from app.realtime.memory import MemoryBroker

# A fresh interpreter: this one has imported redis-py already (other tests use it).
STARTS_WITH_MEMORY = """
import asyncio, sys
from fastapi.testclient import TestClient
from app.config import Settings
from app.main import create_app

settings = Settings(database_url="sqlite+aiosqlite:///{db}", broker_url="memory://")
with TestClient(create_app(settings)) as client:
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/sessions/none", headers={{"Authorization": "Bearer x"}}).status_code == 401
loaded = sorted(m for m in sys.modules if m == "redis" or m.startswith("redis."))
print(loaded)
"""


def test_the_scheme_picks_the_broker_presence_and_limiter_together() -> None:
    memory = from_url("memory://")
    assert isinstance(memory.broker, MemoryBroker)
    assert memory.single_process and is_single_process("memory://")
    assert isinstance(memory.limiter(), LocalLimiter)
    redis = from_url("redis://127.0.0.1:1/0")  # (nothing connects until asked)
    assert not redis.single_process and not is_single_process("rediss://host/0")
    assert type(redis.limiter()).__name__ == "RedisLimiter"
    with pytest.raises(ValueError, match="unsupported broker URL scheme 'amqp'"):
        from_url("amqp://localhost")


def test_an_app_started_on_memory_never_imports_redis_py(tmp_path) -> None:
    from app.cli import run_migrations

    db = tmp_path / "m.db"
    run_migrations(f"sqlite+aiosqlite:///{db}")
    done = subprocess.run(
        [sys.executable, "-c", STARTS_WITH_MEMORY.format(db=db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
