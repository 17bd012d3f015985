"""The clock tests hand to the store: real time plus an offset the test moves forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


class FrozenClock:
    """A clock that stands still at `now` until the test moves it (`advance`, or set `now`)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


class SteppingClock(FrozenClock):
    """Each reading is `step` later than the previous one (time passes with every question)."""

    def __init__(self, start: datetime, step: timedelta) -> None:
        super().__init__(start)
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now
