"""The token bucket, in-process, on a clock the test moves."""

import pytest

from app import ratelimit
from app.ratelimit import Buckets, TokenBucket


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


def test_a_full_bucket_allows_a_burst_then_says_how_long_to_wait(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=20, burst=40)
    assert [bucket.take() for _ in range(40)] == [0.0] * 40
    wait = bucket.take()
    assert wait == pytest.approx(1 / 20)
    assert bucket.take() == pytest.approx(1 / 20), "a refused take costs nothing"


def test_tokens_come_back_at_the_rate_and_never_beyond_the_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10, burst=5)
    for _ in range(5):
        bucket.take()
    clock.now += 0.25  # 2.5 tokens back
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, pytest.approx(0.05)]
    clock.now += 3600  # a long idle refills to the burst, no more
    assert sum(bucket.take() == 0.0 for _ in range(10)) == 5


def test_a_sustained_sender_at_the_rate_is_never_refused(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=20, burst=2)  # 2: room for float rounding of the 1/20 steps
    for _ in range(1000):
        assert bucket.take() == 0.0
        clock.now += 1 / 20


def test_buckets_are_per_key_and_idle_ones_are_dropped_when_full(clock: FakeClock) -> None:
    buckets = Buckets(rate=1, burst=1, max_keys=2)
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0, "a's bucket is empty"
    assert buckets.take("b") == 0.0, "b has a bucket of its own"
    assert buckets.take("c") == 0.0, "a new key gets a full bucket even when the table is full"
    assert buckets.take("c") > 0
    clock.now += 10  # idle long enough to be full again: dropping them loses nothing
    assert buckets.take("d") == 0.0
    assert [buckets.take(k) for k in "abc"] == [0.0, 0.0, 0.0]
