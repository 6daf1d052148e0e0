"""The curves behind the charts: (step, value) points that stay few however long a run is.

A run of 100,000 logged steps must redraw in milliseconds and still show its start. A
:class:`Series` keeps at most ``KEEP`` buckets of consecutive points: when it is full,
neighbouring buckets merge two by two, so the whole run stays at half the resolution
(downsampled, never cut at the start). Each bucket keeps the mean and the highest value
of its points: loss curves are drawn by the mean (the trend, not the noise), memory by
the highest (a peak hidden in a mean is the one that runs out of memory). The latest
``RECENT`` points are also kept as logged, for the "last N steps" view.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Point = tuple[int, float]
Aggregate = Literal["mean", "max"]

KEEP = 2048
RECENT = 4096


@dataclass
class _Bucket:
    first: int
    last: int
    total: float
    count: int
    highest: float

    def add(self, step: int, value: float) -> None:
        self.last, self.total, self.count = step, self.total + value, self.count + 1
        self.highest = max(self.highest, value)

    def merged(self, other: _Bucket) -> _Bucket:
        return _Bucket(
            self.first,
            other.last,
            self.total + other.total,
            self.count + other.count,
            max(self.highest, other.highest),
        )


@dataclass
class Series:
    """Points appended in step order; a step at or before the last one (a resumed run
    logging again from its checkpoint) replaces what was logged from there on."""

    buckets: list[_Bucket] = field(default_factory=list)
    recent: deque[Point] = field(default_factory=lambda: deque(maxlen=RECENT))
    size: int = 1
    """Points per bucket: doubles each time the buckets are merged."""
    first_point: Point | None = None

    def append(self, step: int, value: float) -> None:
        if self.recent and self.recent[-1][0] >= step:
            self.truncate(step)
        if self.first_point is None:
            self.first_point = (step, value)
        self.recent.append((step, value))
        last = self.buckets[-1] if self.buckets else None
        if last is not None and last.count < self.size:
            last.add(step, value)
            return
        self.buckets.append(_Bucket(step, step, value, 1, value))
        if len(self.buckets) > KEEP:
            pairs = zip(self.buckets[::2], self.buckets[1::2], strict=False)
            merged = [a.merged(b) for a, b in pairs]
            if len(self.buckets) % 2:
                merged.append(self.buckets[-1])
            self.buckets, self.size = merged, self.size * 2

    def raise_to(self, step: int, value: float) -> None:
        """A peak measured at ``step``: the higher of it and what the step logged."""
        if not self.recent or self.recent[-1][0] != step:
            self.append(step, value)
            return
        logged = self.recent[-1][1]
        if value > logged:  # in place: a merged bucket keeps its other points
            self.recent[-1] = (step, value)
            bucket = self.buckets[-1]
            bucket.total += value - logged
            bucket.highest = max(bucket.highest, value)

    def truncate(self, step: int) -> None:
        """Forget the points at ``step`` and after. A merged bucket that spans ``step``
        goes whole: its points before it are lost with it (at most ``size - 1``)."""
        while self.recent and self.recent[-1][0] >= step:
            self.recent.pop()
        while self.buckets and self.buckets[-1].last >= step:
            self.buckets.pop()
        if not self.buckets and not self.recent:
            self.first_point = None

    def clear(self) -> None:
        self.buckets.clear()
        self.recent.clear()
        self.size, self.first_point = 1, None

    def __len__(self) -> int:
        return sum(bucket.count for bucket in self.buckets)

    def __bool__(self) -> bool:
        return bool(self.buckets)

    @property
    def latest(self) -> Point:
        return self.recent[-1]

    @property
    def first(self) -> Point:
        assert self.first_point is not None
        return self.first_point

    def __iter__(self) -> Iterator[Point]:
        """Every point, or each bucket's mean once buckets are merged."""
        return iter(self.points())

    def points(self, at_most: int = KEEP, aggregate: Aggregate = "mean") -> list[Point]:
        """At most ``at_most`` points over the whole series: consecutive buckets joined
        (each point at its last step, its value the mean or the highest)."""
        buckets = self.buckets
        if not buckets:
            return []
        group = -(-len(buckets) // max(1, at_most))  # ceiling division
        result: list[Point] = []
        for start in range(0, len(buckets), group):
            chunk = buckets[start : start + group]
            if aggregate == "max":
                value = max(b.highest for b in chunk)
            else:
                value = sum(b.total for b in chunk) / sum(b.count for b in chunk)
            result.append((chunk[-1].last, value))
        return result

    def since(self, step: int) -> list[Point]:
        """The points logged after ``step``, as logged (from the recent ones)."""
        return [point for point in self.recent if point[0] > step]


# TensorBoard's default smoothing weight: each drawn point keeps 60 % of the one before.
SMOOTHING = 0.6


def smoothed(points: list[Point], weight: float = SMOOTHING) -> list[Point]:
    """An exponential moving average, debiased at the start as TensorBoard's is (so the
    first points are not pulled towards zero)."""
    result: list[Point] = []
    average, norm = 0.0, 0.0
    for step, value in points:
        average = average * weight + (1 - weight) * value
        norm = norm * weight + (1 - weight)
        result.append((step, average / norm))
    return result
