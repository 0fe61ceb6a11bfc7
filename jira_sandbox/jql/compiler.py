"""Syntax tree -> one closure per query, so that filtering 100k issues never walks the tree.

NOT is compiled the way Jira executes it (its DeMorgansVisitor): pushed down to the clauses,
flipping each operator (`=` <-> `!=`, `in` <-> `not in`, `<` <-> `>=`, `~` <-> `!~`, `is` <->
`is not`). Because negative operators never match an EMPTY field, `NOT assignee = bob` does
not return unassigned issues, exactly like Jira.
"""

from __future__ import annotations

import operator as op
from collections.abc import Callable

from jira_sandbox.jql import ast
from jira_sandbox.jql.errors import JqlError, unsupported_operator
from jira_sandbox.jql.fields import FieldIndex, FieldSpec, SearchContext
from jira_sandbox.jql.text import compile_contains
from jira_sandbox.jql.values import MULTI_KINDS, Literals, split_key

Predicate = Callable[[dict], bool]
FLIP = {"=": "!=", "!=": "=", "in": "not in", "not in": "in", "is": "is not", "is not": "is",
        "~": "!~", "!~": "~", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}
COMPARE = {"<": op.lt, "<=": op.le, ">": op.gt, ">=": op.ge}
LIST_OPERATORS = ("in", "not in")


def _never(issue: dict) -> bool:
    return False


class Compiler:
    """Compiles nodes against one SearchContext."""

    def __init__(self, ctx: SearchContext):
        self.ctx = ctx
        self.fields = FieldIndex(ctx)
        self.literals = Literals(ctx)
        self.used: set[str] = set()

    def node(self, node: ast.Node, negate: bool = False) -> Predicate:
        """A predicate for `node` (or for its negation, pushed down by De Morgan)."""
        if isinstance(node, ast.Not):
            return self.node(node.item, not negate)
        if isinstance(node, ast.Clause):
            return self.clause(node, negate)
        parts = [self.node(item, negate) for item in node.items]
        conjunction = isinstance(node, ast.And) != negate
        return _all(parts) if conjunction else _any(parts)

    def clause(self, clause: ast.Clause, negate: bool) -> Predicate:
        """Validate one clause against Jira's rules, then build its predicate."""
        name, operator, operand = clause.field.name, clause.operator, clause.operand
        spec = self.fields.resolve(name)
        self.used.add(spec.id)
        _check_shape(name, operator, operand)
        if operator not in spec.operators:
            raise unsupported_operator(operator, name)
        if isinstance(operand, ast.Empty) and operator in ("=", "!="):
            if ("is" if operator == "=" else "is not") not in spec.operators:
                raise JqlError(f"The field '{name}' does not support searching for EMPTY values.")
            operator = "is" if operator == "=" else "is not"
        if negate:
            operator = FLIP[operator]
        if operator in ("is", "is not"):
            return self.emptiness(spec, operator == "is")
        if spec.kind in ("text", "alltext"):
            return self.contains(spec, name, operator, operand)
        values, has_empty = self.literals.resolve(spec, name, operand)
        if operator in COMPARE:
            return self.compare(spec, name, operator, values)
        positive = operator in ("=", "in")
        if spec.kind in MULTI_KINDS:
            return _multi_match(self.literals.reader(spec), frozenset(values), has_empty, positive)
        return _single_match(self.literals.reader(spec), frozenset(values), has_empty, positive)

    def emptiness(self, spec: FieldSpec, want_empty: bool) -> Predicate:
        """`is EMPTY` / `is not EMPTY`."""
        if spec.kind in ("text", "alltext"):
            read = spec.read
            return (lambda i: not read(i)) if want_empty else (lambda i: bool(read(i)))
        read = self.literals.reader(spec)
        if spec.kind in MULTI_KINDS:
            return (lambda i: not read(i)) if want_empty else (lambda i: bool(read(i)))
        return (lambda i: read(i) is None) if want_empty else (lambda i: read(i) is not None)

    def compare(self, spec: FieldSpec, name: str, operator: str, values: set) -> Predicate:
        """`<`, `<=`, `>`, `>=` on an ordered field (one bound; a function yielding nothing matches nothing)."""
        if not values:
            return _never
        cmp = COMPARE[operator]
        bound = next(iter(values))
        if spec.kind == "issuekey":
            tag, *rest = bound
            if tag == "I":
                return lambda i: cmp(int(i["id"]), rest[0])
            project, number = rest
            return lambda i: (k := split_key(i["key"]))[0] == project and cmp(k[1], number)
        read = self.literals.reader(spec)
        return lambda i: (v := read(i)) is not None and cmp(v, bound)

    def contains(self, spec: FieldSpec, name: str, operator: str, operand: ast.Operand) -> Predicate:
        """`~` / `!~` on text; `!~` never matches an empty field (Jira's negative-operator rule)."""
        if not isinstance(operand, ast.Value):
            raise JqlError(f"The field '{name}' does not support searching for the value '{operand.display()}'.")
        matcher = compile_contains(operand.text)
        read = self.all_text if spec.kind == "alltext" else _text_reader(spec)
        if operator == "~":
            return lambda i: bool(t := read(i)) and matcher(t)
        return lambda i: bool(t := read(i)) and not matcher(t)

    def all_text(self, issue: dict) -> str:
        """What `text ~` searches: summary, description, comments and text custom fields."""
        parts = [issue.get("summary") or "", issue.get("description") or ""]
        for comment in issue.get("comments") or ():
            parts.append((comment.get("body") or "") if isinstance(comment, dict) else str(comment))
        custom = issue.get("customfields") or {}
        parts.extend(str(custom[f.id]) for f in self.ctx.custom_fields if f.kind == "string" and custom.get(f.id))
        return "\n".join(p for p in parts if isinstance(p, str) and p)

    def sort_key(self, key: ast.SortKey) -> tuple[Callable[[dict], object], bool]:
        """(issue -> sort value, descending) for one ORDER BY term."""
        spec = self.fields.resolve(key.field.name)
        if not spec.sortable or spec.kind == "alltext":
            raise JqlError(f"Not able to sort using field '{key.field.name}'.")
        self.used.add(spec.id)
        return self.literals.sort_reader(spec), bool(key.descending)


def _check_shape(name: str, operator: str, operand: ast.Operand) -> None:
    """List operators take lists (or functions); the others take single values; IS takes EMPTY."""
    if operator in LIST_OPERATORS:
        if not isinstance(operand, ast.ValueList | ast.Function):
            raise JqlError(f"Operator '{operator}' does not support the non-list value "
                           f"'{operand.display()}' for field '{name}'.")
    elif isinstance(operand, ast.ValueList):
        raise JqlError(f"Operator '{operator}' does not support the list value '{operand.display()}' "
                       f"for field '{name}'.")
    if operator in ("is", "is not") and not isinstance(operand, ast.Empty):
        raise JqlError(f"The operator '{operator}' only supports searching for EMPTY or NULL values "
                       f"(field '{name}').")
    if isinstance(operand, ast.Empty) and operator not in ("=", "!=", "is", "is not", *LIST_OPERATORS):
        raise JqlError(f"The operator '{operator}' does not support searching for EMPTY values (field '{name}').")


def _single_match(read, values: frozenset, has_empty: bool, positive: bool) -> Predicate:
    if positive:
        if has_empty:
            values = values | {None}
        return lambda i: read(i) in values
    # `!=` / `not in` never match EMPTY, whether or not EMPTY was listed.
    return lambda i: (v := read(i)) is not None and v not in values


def _multi_match(read, values: frozenset, has_empty: bool, positive: bool) -> Predicate:
    if positive:
        if has_empty:
            return lambda i: not (v := read(i)) or not values.isdisjoint(v)
        return lambda i: not values.isdisjoint(read(i))
    return lambda i: bool(v := read(i)) and values.isdisjoint(v)


def _text_reader(spec: FieldSpec) -> Callable[[dict], str]:
    read = spec.read
    return lambda i: "" if (v := read(i)) is None else (v if isinstance(v, str) else str(v))


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda i: first(i) and second(i)
    chain = tuple(parts)
    return lambda i: all(p(i) for p in chain)


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda i: first(i) or second(i)
    chain = tuple(parts)
    return lambda i: any(p(i) for p in chain)
