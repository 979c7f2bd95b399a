"""The limiters' debt model (issue 22, item 1): a read is charged by what it returns, so a
take may cost more than one token and leave the bucket below zero, which the refill pays
back before the key may take again. The same contract for both backends: in this process,
and in Redis (a Lua script on Redis's clock)."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from app import ratelimit
from app.ratelimit import Buckets, LocalLimiter, Rate, RedisLimiter, TokenBucket
from tests.support import shared_redis_url


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(ratelimit.time, "monotonic", fake)
    return fake


def test_a_take_larger_than_the_bucket_is_allowed_and_leaves_a_debt(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=2, burst=5)
    assert bucket.take(20) == 0.0  # a 20,000-row read, on a bucket that is not in debt
    assert bucket.tokens == pytest.approx(-15)
    # The next take of even one token waits until the debt is paid: (1 + 15) / 2 s.
    assert bucket.take(1) == pytest.approx(8.0)
    assert bucket.take(1) == pytest.approx(8.0), "a refused take costs nothing"
    clock.now += 7.9
    assert bucket.take(1) > 0
    clock.now += 0.1
    assert bucket.take(1) == 0.0


def test_a_cheap_take_needs_only_its_own_cost(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=2, burst=5)
    # 100 small listing pages (0.05 each) are the budget of five whole reads.
    assert all(bucket.take(0.05) == 0.0 for _ in range(100))
    assert bucket.take(0.05) == pytest.approx(0.025, abs=1e-6)
    clock.now += 0.025
    assert bucket.take(0.05) == 0.0


def test_over_time_a_key_takes_the_rate_whatever_each_take_costs(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=2, burst=5)
    served = 0.0
    for _ in range(2000):  # 100 s, asking every 50 ms for a 7-unit read
        if bucket.take(7) == 0.0:
            served += 7
        clock.now += 0.05
    assert served <= 5 + 2 * 100 + 7  # the burst, the refill, and the last read's debt
    assert served >= 2 * 100 - 7


def test_a_bucket_in_debt_is_not_forgotten_when_the_table_is_pruned(clock: FakeClock) -> None:
    buckets = Buckets(rate=1, burst=1, max_keys=1)
    assert buckets.take("a", 30) == 0.0  # 29 in debt: full again in 30 s
    clock.now += 10
    assert buckets.take("b") == 0.0  # the table is full: prune (a is still in debt)
    assert buckets.take("a") == pytest.approx(20.0)
    clock.now += 21
    assert buckets.take("c") == 0.0  # now a is full again and may be dropped
    assert buckets.take("a") == 0.0


# -- the same contract in both backends, on real time ---------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[ratelimit.Limiter]:
    if request.param == "memory":
        yield LocalLimiter()
        return
    from redis.asyncio import Redis

    client = Redis.from_url(shared_redis_url())
    try:
        yield RedisLimiter(client)
    finally:
        await client.aclose()


async def test_both_backends_charge_a_large_take_as_a_debt(limiter: ratelimit.Limiter) -> None:
    key, rate = f"debt-{uuid.uuid4()}", Rate(per_s=2, burst=5)
    assert await limiter.take(key, rate, 20) == 0.0
    assert await limiter.take(key, rate, 1) == pytest.approx(8.0, abs=0.2)
    assert await limiter.take(key, rate, 0.05) == pytest.approx(7.525, abs=0.2)
    assert await limiter.take(key, rate) == pytest.approx(8.0, abs=0.2), "refusals cost nothing"
    other = f"debt-{uuid.uuid4()}"
    assert await limiter.take(other, rate, 20) == 0.0, "another key has its own bucket"


async def test_both_backends_allow_many_cheap_takes_then_refuse(
    limiter: ratelimit.Limiter,
) -> None:
    key, rate = f"cheap-{uuid.uuid4()}", Rate(per_s=0.01, burst=5)  # next to no refill
    allowed = [await limiter.take(key, rate, 0.05) == 0.0 for _ in range(101)]
    assert allowed[:100] == [True] * 100
    assert allowed[100] is False


async def test_both_backends_still_take_one_token_by_default(limiter: ratelimit.Limiter) -> None:
    key, rate = f"one-{uuid.uuid4()}", Rate(per_s=0.01, burst=3)
    assert [await limiter.take(key, rate) == 0.0 for _ in range(4)] == [True, True, True, False]


async def test_a_redis_that_does_not_answer_holds_a_request_half_a_second_at_most() -> None:
    """A Redis that accepts the connection and then says nothing (a partition): the check
    falls back to this process's buckets after RedisLimiter.TIMEOUT_S, and the next ones
    do not wait on it at all until RETRY_S has passed."""
    from redis.asyncio import Redis

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # reads until the client gives up, answers nothing
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=5)
    try:
        limiter = RedisLimiter(client)
        rate = ratelimit.Rate(per_s=1, burst=2)
        t0 = time.monotonic()
        assert await limiter.take("k", rate) == 0
        first = time.monotonic() - t0
        assert await limiter.take("k", rate) == 0
        assert await limiter.take("k", rate) > 0  # the local bucket holds the limit
        rest = time.monotonic() - t0 - first
        assert first < RedisLimiter.TIMEOUT_S + 0.5, f"the first check waited {first:.2f} s"
        assert rest < 0.1, f"the next checks waited {rest:.2f} s on a Redis known to be away"
    finally:
        await client.aclose()
        server.close()
