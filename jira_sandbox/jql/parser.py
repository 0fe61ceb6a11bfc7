"""Text -> syntax tree, with lark's failures turned into Jira's parse error messages."""

from __future__ import annotations

from lark import Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from jira_sandbox.jql import ast
from jira_sandbox.jql.errors import VALID_ESCAPES, VALID_OPERATORS, JqlError, syntax
from jira_sandbox.jql.grammar import RESERVED_CHARS, RESERVED_WORDS, jql_parser

MAX_LENGTH = 100_000
HEX = "0123456789abcdefABCDEF"
ESCAPES = {"t": "\t", "n": "\n", "r": "\r", '"': '"', "'": "'", "\\": "\\", " ": " "}
OPERATORS = {"EQ", "NE", "LIKE", "NLIKE", "LT", "LE", "GT", "GE", "IN", "IS", "WAS"}
FIELD_START = {"WORD", "DQSTRING", "SQSTRING", "CF"}


def is_control(char: str) -> bool:
    """Characters Jira refuses unescaped, even inside quotes (JqlStringSupportImpl.isJqlControlCharacter)."""
    code = ord(char)
    return (code <= 0x1F and char not in "\n\r\t") or 0x7F <= code <= 0x9F or 0xFDD0 <= code <= 0xFDEF \
        or code in (0xFFFE, 0xFFFF)


def parse_tree(text: str) -> tuple[ast.Node | None, list[ast.SortKey]]:
    """Parse JQL into (where clause or None, ORDER BY keys); raise JqlError with Jira's wording."""
    if len(text) > MAX_LENGTH:
        raise JqlError(f"The JQL query is too long (more than {MAX_LENGTH} characters).")
    try:
        tree = jql_parser().parse(text)
    except UnexpectedInput as exc:
        stop = exc.pos_in_stream if exc.pos_in_stream is not None else len(text)
        _check_escapes_before(text, stop)
        raise _syntax_error(text, exc) from None
    except RecursionError:
        raise JqlError("The JQL query is too deeply nested.") from None
    builder = _Builder()
    where, order = None, []
    for child in tree.children:
        if child.data == "order_by":
            order = [builder.sort(sort) for sort in child.children if isinstance(sort, Tree)]
        else:
            where = builder.node(child)
    return where, order


class _Builder:
    """Turns lark's tree into `ast` nodes, decoding escapes and rejecting reserved words on the way."""

    def node(self, tree: Tree) -> ast.Node:
        kind = tree.data
        if kind == "group":
            return self.node(tree.children[1])
        if kind == "not_":
            return ast.Not(self.node(tree.children[1]))
        if kind in ("and_", "or_"):
            items: list[ast.Node] = []
            for child in tree.children:
                if isinstance(child, Tree):
                    sub = self.node(child)
                    # `a AND b AND c` parses left-nested; flatten so evaluation is one `all()`.
                    same = isinstance(sub, ast.And) if kind == "and_" else isinstance(sub, ast.Or)
                    items.extend(sub.items if same else [sub])
            return ast.And(tuple(items)) if kind == "and_" else ast.Or(tuple(items))
        field_tree, op_tree, operand_tree = tree.children
        operator = " ".join(tok.lower() for tok in op_tree.children)
        if operator.startswith("was"):
            first = op_tree.children[0]
            raise syntax(f"The operator '{operator}' (change history) is not supported by this Jira sandbox.",
                         first.line, first.column)
        return ast.Clause(self.field(field_tree), operator, self.operand(operand_tree))

    def field(self, tree: Tree) -> ast.FieldRef:
        token = tree.children[0]
        if token.type == "CF":
            digits = "".join(ch for ch in token if ch.isdigit())
            return ast.FieldRef(f"cf[{digits}]", token.line, token.column)
        value = self.text_of(token)
        if not value.text.strip():
            raise syntax("A field name cannot be empty.", token.line, token.column)
        return ast.FieldRef(value.text, token.line, token.column)

    def operand(self, tree: Tree) -> ast.Operand:
        kind = tree.data
        if kind == "empty":
            return ast.Empty()
        if kind == "value":
            return self.text_of(tree.children[0].children[0])
        if kind == "list_":
            return ast.ValueList(tuple(self.operand(c) for c in tree.children if isinstance(c, Tree)))
        texts = [self.text_of(c.children[0]) for c in tree.children if isinstance(c, Tree)]
        name, args = texts[0], texts[1:]
        if not name.text.strip():
            raise syntax("A function name cannot be empty.", name.line, name.column)
        return ast.Function(name.text, tuple(arg.text for arg in args))

    def sort(self, tree: Tree) -> ast.SortKey:
        field = self.field(tree.children[0])
        direction = tree.children[1].type if len(tree.children) > 1 else None
        return ast.SortKey(field, None if direction is None else direction == "DESC")

    def text_of(self, token: Token) -> ast.Value:
        """Decode a WORD or quoted string token into a Value."""
        quoted = token.type in ("DQSTRING", "SQSTRING")
        decoded = decode(token)
        if not quoted and decoded.lower() in RESERVED_WORDS:
            raise syntax(f"'{decoded}' is a reserved JQL word. You must surround it in quotation marks "
                         "to use it in a query.", token.line, token.column)
        return ast.Value(decoded, quoted, token.line, token.column)


def _check_escapes_before(text: str, stop: int) -> None:
    """Jira's lexer reports a bad escape before any later parse error: re-lex and decode up to `stop`."""
    try:
        for token in jql_parser().lex(text):
            if token.start_pos >= stop:
                return
            if token.type in ("WORD", "DQSTRING", "SQSTRING"):
                decode(token)
    except UnexpectedInput:
        return


def decode(token: Token) -> str:
    """Resolve JQL escapes in a WORD or quoted token; unknown escapes and control characters are errors."""
    quoted = token.type in ("DQSTRING", "SQSTRING")
    raw = token[1:-1] if quoted else str(token)
    if "\\" not in raw and not any(is_control(ch) for ch in raw):
        return raw
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if is_control(ch):
            line, col = _where(token, i + quoted)
            raise syntax(f"The character 'U+{ord(ch):04X}' on line {line} at position {col} must be escaped. "
                         f"Use the escape '\\u{ord(ch):04x}' instead.", line, col)
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = raw[i + 1]  # the token patterns guarantee a character after every backslash
        if nxt in ESCAPES:
            out.append(ESCAPES[nxt])
            i += 2
            continue
        if nxt == "u":
            digits = raw[i + 2:i + 6]
            if len(digits) == 4 and all(c in HEX for c in digits):
                out.append(chr(int(digits, 16)))
                i += 6
                continue
            good = len(digits) - len(digits.lstrip(HEX))
            bad = "\\u" + digits[:good + 1]
        else:
            bad = "\\" + nxt
        raise syntax(f"'{bad}' is an illegal JQL escape sequence. {VALID_ESCAPES}", *_where(token, i + quoted))
    return "".join(out)


def _where(token: Token, offset: int) -> tuple[int, int]:
    """1-based (line, character) of an offset inside a token, the way Jira counts."""
    prefix = str(token)[:offset]
    newline = prefix.rfind("\n")
    if newline < 0:
        return token.line, token.column + offset
    return token.line + prefix.count("\n"), offset - newline


def _syntax_error(text: str, exc: UnexpectedInput) -> JqlError:
    if isinstance(exc, UnexpectedCharacters):
        return _lexer_error(text, exc)
    assert isinstance(exc, UnexpectedToken)
    token, expected = exc.token, set(exc.expected)
    stack = exc.interactive_parser.parser_state.value_stack if exc.interactive_parser else []
    at_end = token.type == "$END"
    got = "" if at_end else _display(token)
    pos = (None, None) if at_end else (token.line, token.column)

    def expecting(what: str, end: str = "before the end of the query", hint: str = "") -> JqlError:
        if at_end:
            return syntax(f"Expecting {what} {end}.{hint and ' ' + hint}")
        return syntax(f"Expecting {what} but got '{got}'.{hint and ' ' + hint}", *pos)

    you_must = f"You must surround '{got}' in quotation marks to use it as"
    # LALR merges look-ahead sets, so `expected` alone cannot tell a clause's field from a sort
    # field; the parser stack says where we are.
    if any(isinstance(item, Token) and item.type == "ORDER" for item in stack):
        last = stack[-1]
        if isinstance(last, Token) and last.type == "ORDER":
            return expecting("'by'")
        if isinstance(last, Token) and last.type in ("BY", "COMMA"):
            return expecting("a field name", "at the end of the query", "" if at_end else f"{you_must} a field name.")
        if isinstance(last, Token) and last.type in ("ASC", "DESC"):
            return expecting("','")
        return expecting("either 'ASC' or 'DESC'")
    if "EQ" in expected:
        return expecting("operator", hint=f"The valid operators are {VALID_OPERATORS}.")
    if expected == {"IN"}:
        return expecting("'IN'")
    if "NOT" in expected and "EMPTY" in expected and token.type == "BANG":
        return expecting("'NOT'")
    if "EMPTY" in expected:
        return expecting("either a value, list or function", hint="" if at_end else f"{you_must} a value.")
    if "CF" in expected:
        return expecting("a field name", "at the end of the query", "" if at_end else f"{you_must} a field name.")
    if "WORD" in expected:
        if "RPAR" in expected and (at_end or token.type == "COMMA"):
            return expecting("')'")
        if token.type == "RPAR":
            return syntax("Function argument must be specified.", *pos)
        return expecting("a function argument", "at the end of the query",
                         "" if at_end else f"{you_must} an argument.")
    enclosing, last = _enclosing(stack), stack[-1] if stack else None
    if enclosing == "function":
        if isinstance(last, Token) and last.type in ("LPAR", "COMMA") and not at_end:
            return expecting("a function argument", hint=f"{you_must} an argument.")
        return expecting("')'" if at_end else "')' or ','")
    if enclosing == "list":
        closed = isinstance(last, Tree) or (isinstance(last, Token) and last.type == "RPAR")
        return expecting("')'" if closed or at_end else "',' or ')'")
    if enclosing == "group" and at_end:
        return expecting("')'")
    return expecting("either 'OR' or 'AND'")


def _enclosing(stack: list) -> str | None:
    """What the innermost open parenthesis belongs to: 'function', 'list', 'group' or None."""
    kinds: list[str] = []
    for i, item in enumerate(stack):
        if not (isinstance(item, Token) and item.type == "LPAR"):
            continue
        before = stack[i - 1] if i else None
        if isinstance(before, Tree) and before.data == "text":
            kinds.append("function")
        elif isinstance(before, Tree) and before.data == "operator":
            kinds.append("list")
        elif isinstance(before, Token) and before.type in ("COMMA", "LPAR") and kinds:
            kinds.append(kinds[-1])
        else:
            kinds.append("group")
    return kinds[-1] if kinds else None


def _lexer_error(text: str, exc: UnexpectedCharacters) -> JqlError:
    char, line, column = exc.char, exc.line, exc.column
    if char in "\"'":
        rest = text[exc.pos_in_stream + 1:].replace("\r", " ").replace("\n", " ")
        if not rest.strip():
            return syntax("The quoted string has not been completed.", line, column)
        return syntax(f"The quoted string '{rest}' has not been completed.", line, column)
    if char in RESERVED_CHARS:
        return syntax(f"The character '{char}' is a reserved JQL character. You must enclose it in a string "
                      f"or use the escape '\\u{ord(char):04x}' instead.", line, column)
    if char == "\\":
        return syntax(f"The escape sequence has not been completed. {VALID_ESCAPES}", line, column)
    if char == "[":
        return syntax("Expecting a field name but got '['. Did you mean 'cf['?", line, column)
    if is_control(char):
        return syntax(f"The character 'U+{ord(char):04X}' on line {line} at position {column} must be escaped. "
                      f"Use the escape '\\u{ord(char):04x}' instead.", line, column)
    return syntax(f"The character '{char}' is not allowed here. You must enclose it in a string "
                  f"or use the escape '\\u{ord(char):04x}' instead.", line, column)


def _display(token: Token) -> str:
    if token.type in ("DQSTRING", "SQSTRING"):
        return token[1:-1]
    return str(token)
