"""The JQL grammar, after Jira's own ANTLR grammar (`Jql.g`), as a lark LALR parser.

The lexer is context-free like Jira's: keywords (AND, OR, NOT, IN, IS, EMPTY, NULL, ORDER, BY,
ASC, DESC, WAS) are reserved everywhere and must be quoted to be used as values. Unquoted
strings may hold any character except whitespace, quotes, operators, brackets, `,`, `|`, `&`
and the reserved `{ } * / % + ^ $ # @ ? ;`; `-` and `.` are allowed so that `CS-12`, `-1d`
and `2026-01-31` need no quotes, as in Jira.
"""

from __future__ import annotations

from functools import cache

from lark import Lark

JQL_GRAMMAR = r"""
start: or_expr? order_by?

?or_expr: and_expr
        | or_expr (OR | PIPE) and_expr      -> or_
?and_expr: not_expr
         | and_expr (AND | AMP) not_expr    -> and_
?not_expr: (NOT | BANG) not_expr            -> not_
         | LPAR or_expr RPAR                -> group
         | clause

clause: field operator operand
field: WORD | DQSTRING | SQSTRING | CF
operator: EQ | NE | LIKE | NLIKE | LT | LE | GT | GE
        | IN | NOT IN | IS | IS NOT
        | WAS | WAS NOT | WAS IN | WAS NOT IN

?operand: (EMPTY | NULL)                    -> empty
        | text                              -> value
        | text LPAR [text (COMMA text)*] RPAR  -> function
        | LPAR operand (COMMA operand)* RPAR   -> list_
text: WORD | DQSTRING | SQSTRING

order_by: ORDER BY sort (COMMA sort)*
sort: field (ASC | DESC)?

LPAR: "("
RPAR: ")"
COMMA: ","
NE: "!="
NLIKE: "!~"
LE: "<="
GE: ">="
EQ: "="
LIKE: "~"
LT: "<"
GT: ">"
BANG: "!"
AMP: /&&?/
PIPE: /\|\|?/
AND: "and"i
OR: "or"i
NOT: "not"i
IN: "in"i
IS: "is"i
WAS: "was"i
EMPTY: "empty"i
NULL: "null"i
ORDER: "order"i
BY: "by"i
ASC: "asc"i
DESC: "desc"i
CF.2: /cf\s*\[\s*[0-9]+\s*\]/i
DQSTRING: /"(?:[^"\\]|\\[\s\S])*"/
SQSTRING: /'(?:[^'\\]|\\[\s\S])*'/
WORD: /(?:\\[\s\S]|[^\s"'=!<>()~,\[\]|&{}*\/%+^$#@?;\\\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff])+/i

%ignore /[ \t\r\n]+/
"""

# Characters Jira keeps for future use: they must be quoted or escaped (Jql.g RESERVED_CHARS).
RESERVED_CHARS = set("{}*/%+^$#@?;")

# Words Jira reserves (JqlStringSupportImpl): unquoted, they are a syntax error wherever they stand.
_RESERVED_TEXT = """
abort access add after alias all alter any as audit avg before begin between boolean break byte catch changed
char character check checkpoint collate collation column commit connect continue count create current date
decimal declare decrement default defaults define delete delimiter difference distinct divide do double drop
during else encoding end equals escape exclusive exec execute exists explain false fetch file field first float
for from function go goto grant greater group having identified if immediate increment index initial inner
inout input insert int integer intersect intersection into isempty isnull join last left less like limit lock
long max min minus mode modify modulo more multiply next noaudit notin nowait number object of on option outer
output power previous prior privileges public raise raw remainder rename resource return returns revoke right
row rowid rownum rows select session set share size sqrt start strict string subtract sum synonym table then
to trans transaction trigger true uid union unique update user validate values view when whenever where while
with
"""
RESERVED_WORDS = frozenset(_RESERVED_TEXT.split())


@cache
def jql_parser() -> Lark:
    """The compiled LALR parser, built on first use rather than at import."""
    return Lark(JQL_GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=False)
