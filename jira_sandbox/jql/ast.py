"""The JQL syntax tree: plain frozen dataclasses produced by the parser and read by the compiler."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Value:
    """A literal: `text` is the decoded value; `quoted` tells `"10"` from `10` (numbers mean ids)."""

    text: str
    quoted: bool = False
    line: int = 1
    column: int = 1

    def display(self) -> str:
        """The literal the way Jira echoes it in messages (strings quoted, numbers bare)."""
        return self.text if (not self.quoted and self.text.lstrip("-").isdigit()) else f'"{self.text}"'


@dataclass(frozen=True)
class Empty:
    """`EMPTY` / `null`."""

    def display(self) -> str:
        """How Jira echoes it."""
        return "EMPTY"


@dataclass(frozen=True)
class Function:
    """A function call such as `currentUser()` or `startOfDay(-1d)`; arguments are plain strings."""

    name: str
    args: tuple[str, ...] = ()

    def display(self) -> str:
        """How Jira echoes it."""
        return f"{self.name}({', '.join(self.args)})"


@dataclass(frozen=True)
class ValueList:
    """A parenthesised list operand: `(a, "b c", 3, EMPTY)`."""

    items: tuple[Operand, ...]

    def display(self) -> str:
        """How Jira echoes it."""
        return "(" + ", ".join(item.display() for item in self.items) + ")"


Operand = Value | Empty | Function | ValueList


@dataclass(frozen=True)
class FieldRef:
    """A field as written: `name` is the text (`cf[10001]` normalised to that form)."""

    name: str
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Clause:
    """`field operator operand`; `operator` is lower case: `=`, `!=`, `in`, `not in`, `is`, `is not`, `~`..."""

    field: FieldRef
    operator: str
    operand: Operand


@dataclass(frozen=True)
class And:
    """All of `items`."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of `items`."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """`NOT item` (also written `!item`)."""

    item: Node


Node = Clause | And | Or | Not


@dataclass(frozen=True)
class SortKey:
    """One `ORDER BY` term; `descending` is None when no direction was written (Jira then uses the
    field's default direction, which is ascending for every field this engine sorts)."""

    field: FieldRef
    descending: bool | None = None
