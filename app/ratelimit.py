"""Token buckets: about ``rate`` sends per second with bursts of ``burst``."""

import time


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self) -> float:
        """Take one token; return 0 if allowed, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Buckets:
    """One bucket per key (a participant, for HTTP), dropping idle ones."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take()

    def _prune(self) -> None:
        now = time.monotonic()
        full_after = self.burst / self.rate
        for key, bucket in list(self._buckets.items()):
            if now - bucket.stamp > full_after:
                del self._buckets[key]
