"""The small expression language of meta rules and decision tables.

    SPF_FAIL && FROM_FREEMAIL && !DKIM_VALID
    (URI_SHORTENER + URI_IP_LITERAL + HTML_FORM) >= 2
    group:url >= 3
    auth.dmarc == "fail" & auth.dmarc_policy == "reject"
    score > 12

A rule id is 1 when it hit and 0 when it did not; `group:NAME` counts the hits
of a group; `auth.KEY` reads the authentication record (dotted keys descend);
`score` is the total before decisions. `&`/`&&`, `|`/`||`, `!`, `+`, `-`,
comparisons and parentheses, with the usual precedence.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>\d+(?:\.\d+)?)
    | (?P<str>"[^"]*"|'[^']*')
    | (?P<name>(?:group|tag):[A-Za-z0-9_.-]+|auth(?:\.[A-Za-z0-9_]+)+|[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>&&|\|\||==|!=|>=|<=|[&|!()+\-<>])
    )""", re.X)


class ExprError(ValueError):
    pass


@dataclass(frozen=True)
class Node:
    op: str
    args: tuple[Any, ...]


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExprError(f"cannot read {text[pos:pos + 20]!r} at position {pos}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "op":
            value = {"&&": "&", "||": "|"}.get(value, value)
        tokens.append((kind, value))
        pos = match.end()
    return tokens


class _Parser:
    # precedence, loosest first: | & comparison +- unary
    def __init__(self, text: str):
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            raise ExprError(f"expected {value or 'more'} in {self.text!r}")
        self.pos += 1
        return token

    def parse(self) -> Node:
        node = self.parse_or()
        if self.peek() is not None:
            raise ExprError(f"unexpected {self.peek()[1]!r} in {self.text!r}")
        return node

    def parse_or(self) -> Node:
        node = self.parse_and()
        while self.peek() == ("op", "|"):
            self.take()
            node = Node("|", (node, self.parse_and()))
        return node

    def parse_and(self) -> Node:
        node = self.parse_cmp()
        while self.peek() == ("op", "&"):
            self.take()
            node = Node("&", (node, self.parse_cmp()))
        return node

    def parse_cmp(self) -> Node:
        node = self.parse_sum()
        token = self.peek()
        if token and token[1] in ("==", "!=", ">=", "<=", ">", "<"):
            self.take()
            node = Node(token[1], (node, self.parse_sum()))
        return node

    def parse_sum(self) -> Node:
        node = self.parse_unary()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            node = Node(op, (node, self.parse_unary()))
        return node

    def parse_unary(self) -> Node:
        token = self.peek()
        if token == ("op", "!"):
            self.take()
            return Node("!", (self.parse_unary(),))
        if token == ("op", "-"):
            self.take()
            return Node("neg", (self.parse_unary(),))
        if token == ("op", "("):
            self.take()
            node = self.parse_or()
            self.take(")")
            return node
        if token is None:
            raise ExprError(f"expression ends too early: {self.text!r}")
        kind, value = self.take()
        if kind == "num":
            return Node("num", (float(value),))
        if kind == "str":
            return Node("str", (value[1:-1],))
        if kind == "name":
            if value.startswith("group:"):
                return Node("group", (value[6:],))
            if value.startswith("tag:"):
                return Node("tag", (value[4:],))
            if value.startswith("auth."):
                return Node("auth", tuple(value.split(".")[1:]))
            if value == "score":
                return Node("score", ())
            if value in ("true", "false"):
                return Node("num", (1.0 if value == "true" else 0.0,))
            return Node("rule", (value,))
        raise ExprError(f"unexpected {value!r} in {self.text!r}")


def parse(text: str) -> Node:
    if not isinstance(text, str) or not text.strip():
        raise ExprError("empty expression")
    return _Parser(text).parse()


def references(node: Node) -> set[str]:
    """Rule ids an expression reads."""
    if node.op == "rule":
        return {node.args[0]}
    found: set[str] = set()
    for arg in node.args:
        if isinstance(arg, Node):
            found |= references(arg)
    return found


def groups(node: Node) -> set[str]:
    if node.op == "group":
        return {node.args[0]}
    found: set[str] = set()
    for arg in node.args:
        if isinstance(arg, Node):
            found |= groups(arg)
    return found


def reads_counts(node: Node) -> bool:
    """Whether an expression reads `group:` or `tag:` counts."""
    if node.op in ("group", "tag"):
        return True
    return any(isinstance(arg, Node) and reads_counts(arg) for arg in node.args)


@dataclass
class Env:
    """What an expression can see."""

    hits: set[str]
    group_counts: dict[str, int]
    tag_counts: dict[str, int]
    auth: dict[str, Any]
    score: float = 0.0


def _truthy(value: Any) -> bool:
    return bool(value) and value != "none"


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    ">=": lambda a, b: a >= b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, "<": lambda a, b: a < b,
}


def evaluate(node: Node, env: Env) -> Any:
    op, args = node.op, node.args
    if op == "rule":
        return 1 if args[0] in env.hits else 0
    if op == "num" or op == "str":
        return args[0]
    if op == "group":
        return env.group_counts.get(args[0], 0)
    if op == "tag":
        return env.tag_counts.get(args[0], 0)
    if op == "score":
        return env.score
    if op == "auth":
        return _auth_value(env.auth, args)
    if op == "!":
        return 0 if _truthy(evaluate(args[0], env)) else 1
    if op == "neg":
        return -_number(evaluate(args[0], env))
    if op == "&":
        return 1 if _truthy(evaluate(args[0], env)) and _truthy(evaluate(args[1], env)) else 0
    if op == "|":
        return 1 if _truthy(evaluate(args[0], env)) or _truthy(evaluate(args[1], env)) else 0
    if op in ("+", "-"):
        a, b = _number(evaluate(args[0], env)), _number(evaluate(args[1], env))
        return a + b if op == "+" else a - b
    return _compare(op, evaluate(args[0], env), evaluate(args[1], env))


def _number(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    return 1.0 if _truthy(value) else 0.0


# -- compiled form ------------------------------------------------------------------
#
# Walking the Node tree costs a Python call per node; metas and decision rows run
# on every message, so each expression is turned once into one Python function of
# (hits, group_counts, tag_counts, auth, score). The generated code follows
# `evaluate` exactly: same truth and comparisons (1/0 ints; a sum of numbers
# may stay an int where `evaluate` gives the equal float), "" for a missing
# auth key, same short-circuit order, same errors.

Compiled = Callable[[set, dict, dict, dict, float], Any]

_NUMERIC = {"rule", "num", "group", "tag", "score", "!", "neg", "&", "|", "+", "-",
            "==", "!=", ">=", "<=", ">", "<"}
_BOOLEAN = {"rule", "!", "&", "|", "==", "!=", ">=", "<=", ">", "<"}


def _auth_value(auth: dict[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = auth
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return 1 if value else 0
    return value if value is not None else ""


def _compare(op: str, left: Any, right: Any) -> int:
    if isinstance(left, str) or isinstance(right, str):
        left, right = str(left), str(right)
        if op not in ("==", "!="):
            raise ExprError(f"{op} compares numbers, not text")
    return 1 if _COMPARE[op](left, right) else 0


def _value_code(node: Node, S: str = "S") -> str:
    """Python source computing what `evaluate(node)` returns."""
    op, args = node.op, node.args
    if op == "rule":
        return f"(1 if {args[0]!r} in H else 0)"
    if op in ("num", "str"):
        return repr(args[0])
    if op == "group":
        return f"G.get({args[0]!r}, 0)"
    if op == "tag":
        return f"T.get({args[0]!r}, 0)"
    if op == "score":
        return S
    if op == "auth":
        return f"_auth_value(A, {tuple(args)!r})"
    if op in _BOOLEAN:
        return f"(1 if {_bool_code(node, S)} else 0)"
    if op == "neg":
        return f"(-_number({_value_code(args[0], S)}))"
    if op in ("+", "-"):
        return f"({_number_code(args[0], S)} {op} {_number_code(args[1], S)})"
    raise ExprError(f"cannot compile operator {op!r}")


def _number_code(node: Node, S: str = "S") -> str:
    """Python source for `_number(evaluate(node))` up to int/float: a node that always
    gives a number (a rule's 1/0, a count, a sum) is used as it is, which is what
    makes long sums of rules cheap; the result is only ever compared or tested."""
    if node.op in _NUMERIC:
        return _value_code(node, S)
    return f"_number({_value_code(node, S)})"


def _bool_code(node: Node, S: str = "S") -> str:
    """Python source for `_truthy(evaluate(node))`, as a bool."""
    op, args = node.op, node.args
    if op == "rule":
        return f"({args[0]!r} in H)"
    if op == "!":
        return f"(not {_bool_code(args[0], S)})"
    if op == "&":
        return f"({_bool_code(args[0], S)} and {_bool_code(args[1], S)})"
    if op == "|":
        return f"({_bool_code(args[0], S)} or {_bool_code(args[1], S)})"
    if op in _COMPARE:
        left, right = args
        if left.op in _NUMERIC and right.op in _NUMERIC:
            # numbers on both sides: no text comparison, no error possible
            return f"({_value_code(left, S)} {op} {_value_code(right, S)})"
        return f"({_compare.__name__}({op!r}, {_value_code(left, S)}, {_value_code(right, S)}) == 1)"
    return f"_truthy({_value_code(node, S)})"


def compile_node(node: Node, lazy_score: bool = False) -> Compiled:
    """One function f(hits, group_counts, tag_counts, auth, score) -> what evaluate gives.

    Its result is only ever used for truth, like `evaluate`'s (rule, boolean and
    comparison nodes give 1/0; other nodes give their value). With `lazy_score`,
    `score` is a function of no arguments giving the score, called only where the
    expression reads it (the decision rows: most messages never get that far).
    """
    S = "S()" if lazy_score else "S"
    body = _bool_code(node, S) if node.op in _BOOLEAN else _value_code(node, S)
    source = f"lambda H, G, T, A, S: {body}"
    namespace = {"_auth_value": _auth_value, "_compare": _compare, "_number": _number,
                 "_truthy": _truthy}
    return eval(compile(source, "<rule expression>", "eval"), namespace)  # noqa: S307 - our own code


def compile_rows(nodes: list[Node]) -> Callable[..., tuple[list[int], Exception | None]]:
    """All the rows of a decision table as one function of (hits, group_counts,
    tag_counts, auth, score) -> (indexes of the rows that fire, in order; the error a
    row raised, or None): one call per message instead of one per row. A row that
    raises stops the rows after it. `score` is a function of no arguments, as with
    `compile_node(..., lazy_score=True)`."""
    lines = ["def fires(H, G, T, A, S):", "    out = []", "    try:", "        pass"]
    for index, node in enumerate(nodes):
        code = _bool_code(node, "S()") if node.op in _BOOLEAN else _value_code(node, "S()")
        lines += [f"        if {code}:", f"            out.append({index})"]
    lines += ["    except Exception as exc:", "        return out, exc", "    return out, None"]
    namespace = {"_auth_value": _auth_value, "_compare": _compare, "_number": _number,
                 "_truthy": _truthy}
    exec(compile("\n".join(lines), "<decision rows>", "exec"), namespace)  # noqa: S102 - our own code
    return namespace["fires"]


def compile_sequence(nodes: list[Node], ids: list[str],
                     counts: list[tuple[str, tuple[str, ...]]] | None = None
                     ) -> Callable[[set, dict, dict, dict], list[int]]:
    """Meta rules in their order as one function of (hits, group_counts, tag_counts, auth)
    -> the indexes of those that fire, score 0: each that fires has its id added to
    `hits` (and, with `counts`, one to its group's and its tags' counts) before the next
    is tried, as calling compile_node's function of each in turn and recording it does;
    one call per message instead of one per meta. An error propagates as from those."""
    lines = ["def fire(H, G, T, A):", "    S = 0.0", "    out = []"]
    for index, (node, rule_id) in enumerate(zip(nodes, ids)):
        code = _bool_code(node, "S") if node.op in _BOOLEAN else _value_code(node, "S")
        lines += [f"    if {code}:", f"        out.append({index})", f"        H.add({rule_id!r})"]
        if counts is not None:
            group, tags = counts[index]
            lines.append(f"        G[{group!r}] = G.get({group!r}, 0) + 1")
            lines += [f"        T[{tag!r}] = T.get({tag!r}, 0) + 1" for tag in tags]
    lines.append("    return out")
    namespace = {"_auth_value": _auth_value, "_compare": _compare, "_number": _number,
                 "_truthy": _truthy}
    exec(compile("\n".join(lines), "<meta rules>", "exec"), namespace)  # noqa: S102 - our own code
    return namespace["fire"]


def compile_text(text: str) -> Compiled:
    return compile_node(parse(text))
