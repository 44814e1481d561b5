"""Per-backend concurrency and request-rate limits, shared by sync and async callers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager


class BackendLimiter:
    """A semaphore of `concurrency` slots plus an optional requests-per-minute pacer.

    One limiter serves threads and any number of event loops at once: waiting threads block on an Event,
    waiting coroutines on a Future of their own loop, and a released slot goes to the longest waiter.
    """

    def __init__(self, concurrency: int, requests_per_minute: float | None = None) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.concurrency = concurrency
        self.requests_per_minute = requests_per_minute
        self._lock = threading.Lock()
        self._in_use = 0
        self._waiters: deque[threading.Event | tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._next_start = 0.0
        self.max_in_use = 0

    @property
    def in_use(self) -> int:
        """Slots taken right now."""
        return self._in_use

    # -- slots ---------------------------------------------------------------------------------------------
    def _take_locked(self) -> None:
        self._in_use += 1
        self.max_in_use = max(self.max_in_use, self._in_use)

    def acquire(self) -> None:
        """Block until a slot is free, then take it."""
        with self._lock:
            if self._in_use < self.concurrency and not self._waiters:
                self._take_locked()
                return
            event = threading.Event()
            self._waiters.append(event)
        event.wait()

    async def aacquire(self) -> None:
        """Wait (without blocking the loop) until a slot is free, then take it."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._in_use < self.concurrency and not self._waiters:
                self._take_locked()
                return
            fut: asyncio.Future[None] = loop.create_future()
            entry = (loop, fut)
            self._waiters.append(entry)
        try:
            await fut
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove(entry)
                    removed = True
                except ValueError:
                    removed = False  # the slot was already handed to us: give it back
            if not removed:
                self.release()
            raise

    def release(self) -> None:
        """Free a slot, handing it straight to the longest waiter if there is one."""
        with self._lock:
            while self._waiters:
                waiter = self._waiters.popleft()
                if isinstance(waiter, threading.Event):
                    waiter.set()  # slot passes to the waiter; in_use unchanged
                    return
                loop, fut = waiter
                if loop.is_closed():
                    continue
                loop.call_soon_threadsafe(_grant, fut, self)
                return
            self._in_use -= 1

    # -- pacing --------------------------------------------------------------------------------------------
    def _reserve_start(self) -> float:
        """Return how long to wait before the next request may start (0 when unpaced)."""
        if not self.requests_per_minute:
            return 0.0
        interval = 60.0 / self.requests_per_minute
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start)
            self._next_start = start + interval
            return start - now

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot (after pacing) for the duration of one request."""
        delay = self._reserve_start()
        if delay > 0:
            time.sleep(delay)
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @asynccontextmanager
    async def aslot(self) -> AsyncIterator[None]:
        """Async twin of `slot`."""
        delay = self._reserve_start()
        if delay > 0:
            await asyncio.sleep(delay)
        await self.aacquire()
        try:
            yield
        finally:
            self.release()


def _grant(fut: asyncio.Future[None], limiter: BackendLimiter) -> None:
    if fut.cancelled():
        limiter.release()  # waiter gave up between hand-over and wake-up: pass the slot on
    else:
        fut.set_result(None)


_registry: dict[tuple[object, ...], BackendLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: tuple[object, ...], concurrency: int, requests_per_minute: float | None) -> BackendLimiter:
    """Return the process-wide limiter of one backend (same key and limits, same limiter)."""
    full_key = (*key, concurrency, requests_per_minute)
    with _registry_lock:
        limiter = _registry.get(full_key)
        if limiter is None:
            limiter = _registry[full_key] = BackendLimiter(concurrency, requests_per_minute)
        return limiter
