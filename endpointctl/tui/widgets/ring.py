"""A fixed-capacity ring of log lines: O(1) append and random access, and a count of what fell off."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Ring(Generic[T]):
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("a ring needs room for at least one item")
        self.capacity = capacity
        self._items: list[T | None] = [None] * capacity
        self._start = 0
        self._size = 0
        self.dropped = 0

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, index: int) -> T:
        if index < 0:
            index += self._size
        if not 0 <= index < self._size:
            raise IndexError(index)
        item = self._items[(self._start + index) % self.capacity]
        assert item is not None
        return item

    def __iter__(self) -> Iterator[T]:
        for index in range(self._size):
            yield self[index]

    def append(self, item: T) -> None:
        if self._size < self.capacity:
            self._items[(self._start + self._size) % self.capacity] = item
            self._size += 1
        else:
            self._items[self._start] = item
            self._start = (self._start + 1) % self.capacity
            self.dropped += 1

    def extend(self, items: Iterable[T]) -> int:
        count = 0
        for item in items:
            self.append(item)
            count += 1
        return count

    def clear(self) -> None:
        self._items = [None] * self.capacity
        self._start = self._size = 0
        self.dropped = 0
