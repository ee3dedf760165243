"""Token buckets by key (a client, a session, an IP address): ``take(key, now)`` says whether one more may pass.

Pure: the caller passes the clock reading. Each key may pass ``burst`` at once after a quiet spell
and ``rate_per_s`` a second on average. At most ``max_keys`` buckets are kept; past it the least
recently used is forgotten (a forgotten key starts with a full bucket, which is the state it would
have reached anyway after ``burst / rate_per_s`` seconds of quiet).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

DEFAULT_MAX_KEYS = 4096


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        if rate_per_s <= 0 or burst < 1 or max_keys < 1:
            raise ValueError(f"need rate_per_s > 0, burst >= 1, max_keys >= 1; got {rate_per_s}, {burst}, {max_keys}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = min(float(self.burst), bucket.tokens + max(now - bucket.stamp, 0.0) * self.rate_per_s)
        bucket.stamp = now
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True

    def forget(self, key: str) -> None:
        self._buckets.pop(key, None)

    def __len__(self) -> int:
        return len(self._buckets)
