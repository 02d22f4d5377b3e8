"""Our own rate limit per target, instead of apprise's fixed 5.5 s between any two messages to one target.

A token bucket: `burst` messages go out at once (a failover's mails within a second of each other), then
one every 1/`per_s` seconds, so a storm is spread instead of getting the bot throttled (DingTalk blocks a
robot for minutes after 20 a minute) or the mail relay annoyed. The sender thread waits for its token;
each target has one delivery in flight at a time, so the wait holds up that target alone.
"""

import threading
import time


class TokenBucket:
    def __init__(self, burst: int, per_s: float) -> None:
        self.burst, self.per_s = burst, per_s
        self.tokens = float(burst)
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> float:
        """Take a token; -> seconds to wait before using it (0 when one was there)."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_s)
            self.stamp = now
            self.tokens -= 1
            return 0.0 if self.tokens >= 0 else -self.tokens / self.per_s

    def wait(self) -> float:
        delay = self.take()
        if delay:
            time.sleep(delay)
        return delay
