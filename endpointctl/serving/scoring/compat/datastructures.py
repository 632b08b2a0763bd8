"""Small werkzeug-compatible containers so scripts written against Flask keep working without it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class _TypedGet:
    """werkzeug's ``get(key, default, type)``: a failed conversion gives the default, not an error."""

    def __getitem__(self, key: str) -> Any:
        raise NotImplementedError

    def get(self, key: str, default: Any = None, type: Callable[[Any], T] | None = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        if type is None:
            return value
        try:
            return type(value)
        except (ValueError, TypeError):
            return default


class MultiDict(_TypedGet):
    """Ordered multi-valued mapping with werkzeug's reading API (``get``, ``getlist``, ``to_dict``)."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        self._pairs: list[tuple[str, Any]] = list(pairs)

    def __getitem__(self, key: str) -> Any:
        for name, value in self._pairs:
            if name == key:
                return value
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        return any(name == key for name, _ in self._pairs)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.keys())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"

    def getlist(self, key: str) -> list[Any]:
        return [value for name, value in self._pairs if name == key]

    def keys(self) -> list[str]:
        return list(dict.fromkeys(name for name, _ in self._pairs))

    def values(self) -> list[Any]:
        return [self[key] for key in self.keys()]

    def items(self, multi: bool = False) -> list[tuple[str, Any]]:
        if multi:
            return list(self._pairs)
        return [(key, self[key]) for key in self.keys()]

    def lists(self) -> list[tuple[str, list[Any]]]:
        return [(key, self.getlist(key)) for key in self.keys()]

    def to_dict(self, flat: bool = True) -> dict[str, Any]:
        if flat:
            return dict(self.items())
        return dict(self.lists())


class Headers(_TypedGet):
    """Case-insensitive, multi-valued headers; iterating yields ``(name, value)`` pairs like werkzeug."""

    def __init__(self, pairs: Iterable[tuple[str, Any]] = ()) -> None:
        self._pairs: list[tuple[str, str]] = [(name, str(value)) for name, value in pairs]

    def __getitem__(self, key: str) -> str:
        lowered = key.lower()
        for name, value in self._pairs:
            if name.lower() == lowered:
                return value
        raise KeyError(key)

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        self.remove(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        lowered = key.lower()
        return any(name.lower() == lowered for name, _ in self._pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(list(self._pairs))

    def __len__(self) -> int:
        return len(self._pairs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"

    def getlist(self, key: str) -> list[str]:
        lowered = key.lower()
        return [value for name, value in self._pairs if name.lower() == lowered]

    def keys(self) -> list[str]:
        return [name for name, _ in self._pairs]

    def values(self) -> list[str]:
        return [value for _, value in self._pairs]

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def add(self, key: str, value: Any) -> None:
        self._pairs.append((key, str(value)))

    add_header = add

    def set(self, key: str, value: Any) -> None:
        lowered = key.lower()
        new: list[tuple[str, str]] = []
        placed = False
        for name, old in self._pairs:
            if name.lower() == lowered:
                if not placed:
                    new.append((key, str(value)))
                    placed = True
            else:
                new.append((name, old))
        if not placed:
            new.append((key, str(value)))
        self._pairs = new

    def setdefault(self, key: str, default: Any) -> str:
        if key not in self:
            self.set(key, default)
        return self[key]

    def remove(self, key: str) -> None:
        lowered = key.lower()
        self._pairs = [(name, value) for name, value in self._pairs if name.lower() != lowered]

    def extend(self, pairs: Iterable[tuple[str, Any]]) -> None:
        for name, value in pairs:
            self.add(name, value)

    def to_wsgi_list(self) -> list[tuple[str, str]]:
        return list(self._pairs)
