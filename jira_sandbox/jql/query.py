"""A parsed query: validate it, compile it to a predicate, sort and search issue dicts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from jira_sandbox.jql import ast
from jira_sandbox.jql.compiler import Compiler
from jira_sandbox.jql.fields import SearchContext, canonical_id
from jira_sandbox.jql.parser import parse_tree

# With no ORDER BY, results come newest first. Jira documents no default for the REST search;
# its issue navigator and the sandbox's own empty-JQL listing both show the newest issues first.
DEFAULT_ORDER = (ast.SortKey(ast.FieldRef("created"), descending=True),)


def parse(text: str) -> Query:
    """Parse JQL text (syntax errors raise JqlError); the server calls this once per distinct query."""
    where, order_by = parse_tree(text or "")
    return Query(text or "", where, tuple(order_by))


@dataclass(frozen=True)
class Query:
    """The parsed form of one JQL string."""

    text: str
    where: ast.Node | None
    order_by: tuple[ast.SortKey, ...] = ()
    _resolved: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def fields_used(self) -> set[str]:
        """Canonical field ids in the query; custom fields named by name resolve once a context was seen."""
        if "fields" in self._resolved:
            return set(self._resolved["fields"])
        names = [c.field.name for c in _clauses(self.where)] + [k.field.name for k in self.order_by]
        return {canonical_id(name) for name in names}

    def validate(self, ctx: SearchContext) -> None:
        """Raise JqlError for unknown fields or values, unsupported operators, bad dates or functions."""
        self._compile(ctx)

    def compile(self, ctx: SearchContext) -> Callable[[dict], bool]:
        """A predicate over issue dicts (validates first)."""
        return self._compile(ctx)[0]

    def sort(self, issues: Iterable[dict], ctx: SearchContext) -> list[dict]:
        """Apply ORDER BY (or the default order): stable, and EMPTY values last in either direction."""
        compiler = Compiler(ctx)
        keys = [compiler.sort_key(k) for k in (self.order_by or DEFAULT_ORDER)]
        return _sorted(list(issues), keys)

    def search(self, issues: Iterable[dict], ctx: SearchContext) -> list[dict]:
        """Filter then sort: what /search returns, before paging."""
        predicate, keys = self._compile(ctx)
        return _sorted([issue for issue in issues if predicate(issue)], keys)

    def _compile(self, ctx: SearchContext):
        compiler = Compiler(ctx)
        predicate = compiler.node(self.where) if self.where is not None else (lambda issue: True)
        keys = [compiler.sort_key(k) for k in self.order_by]
        if not self.order_by:
            keys = [compiler.sort_key(k) for k in DEFAULT_ORDER]
            compiler.used.discard("created")
        self._resolved["fields"] = frozenset(compiler.used)
        return predicate, keys


def _sorted(issues: list[dict], keys: list) -> list[dict]:
    # One stable pass per key, last key first; EMPTY values are split off so they stay last.
    for read, descending in reversed(keys):
        present, missing = [], []
        for issue in issues:
            (missing if read(issue) is None else present).append(issue)
        present.sort(key=read, reverse=descending)
        issues = present + missing
    return issues


def _clauses(node: ast.Node | None) -> Iterable[ast.Clause]:
    if node is None:
        return
    if isinstance(node, ast.Clause):
        yield node
    elif isinstance(node, ast.Not):
        yield from _clauses(node.item)
    else:
        for item in node.items:
            yield from _clauses(item)
