"""A small, safe expression language for rules: tokenized and parsed into a tree, never eval'd.

    expr  := and ('or' and)*          and := not ('and' not)*        not := 'not' not | cmp
    cmp   := sum [('<'|'<='|'>'|'>='|'=='|'!=') sum]
    sum   := term (('+'|'-') term)*   term := unary (('*'|'/') unary)*
    unary := '-' unary | NUMBER | 'true' | 'false' | POINT | AGG '(' GROUP '.' point ')' | '(' expr ')'

POINT is DEVICE.point (e.g. L-001.driver_temp: names may hold '-', so subtraction needs spaces).
AGG is min, max, avg or count over the devices of a group that report the point.
"""

from edge_rules.errors import ExprError  # noqa: F401 (raised here, part of this module's API)

AGGREGATES = ("min", "max", "avg", "count")
KEYWORDS = ("and", "or", "not", "true", "false")
COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")
NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789-."


def tokenize(text: str) -> list:
    """[(kind, value, column)] with kinds num, name, op, end."""
    tokens = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in " \t":
            i += 1
        elif ch.isdigit() or (ch == "." and text[i + 1:i + 2].isdigit()):
            j = i
            while j < len(text) and (text[j].isdigit() or text[j] == "."):
                j += 1
            try:
                tokens.append(("num", float(text[i:j]), i))
            except ValueError:
                raise ExprError("bad number %r at column %d" % (text[i:j], i + 1))
            i = j
        elif ch.isalpha() or ch == "_":
            j = i
            while j < len(text) and text[j] in NAME_CHARS:
                j += 1
            tokens.append(("name", text[i:j], i))
            i = j
        elif text[i:i + 2] in ("<=", ">=", "==", "!="):
            tokens.append(("op", text[i:i + 2], i))
            i += 2
        elif ch in "<>+-*/()":
            tokens.append(("op", ch, i))
            i += 1
        else:
            raise ExprError("unexpected %r at column %d" % (ch, i + 1))
    tokens.append(("end", None, len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str, groups: dict):
        self.tokens = tokenize(text)
        self.pos = 0
        self.groups = groups

    def peek(self):
        return self.tokens[self.pos]

    def take(self, value=None):
        tok = self.tokens[self.pos]
        if value is not None and tok[1] != value:
            raise ExprError("expected %r at column %d, found %s" % (value, tok[2] + 1, self.show(tok)))
        self.pos += 1
        return tok

    @staticmethod
    def show(tok) -> str:
        return "end of expression" if tok[0] == "end" else repr(tok[1])

    def binary(self, ops, sub, kind):
        left = sub()
        while self.peek()[1] in ops and self.peek()[0] in ("op", "name"):
            op = self.take()[1]
            left = (kind, op, left, sub()) if kind == "bin" else (op, left, sub())
        return left

    def expr(self):
        return self.binary(("or",), self.conj, "bool")

    def conj(self):
        return self.binary(("and",), self.negation, "bool")

    def negation(self):
        if self.peek() == ("name", "not", self.peek()[2]):
            self.take()
            return ("not", self.negation())
        return self.comparison()

    def comparison(self):
        left = self.sum()
        if self.peek()[0] == "op" and self.peek()[1] in COMPARISONS:
            op = self.take()[1]
            right = self.sum()
            if self.peek()[0] == "op" and self.peek()[1] in COMPARISONS:
                raise ExprError("chained comparison at column %d: use 'and'" % (self.peek()[2] + 1))
            return ("cmp", op, left, right)
        return left

    def sum(self):
        return self.binary(("+", "-"), self.term, "bin")

    def term(self):
        return self.binary(("*", "/"), self.unary, "bin")

    def unary(self):
        tok = self.take()
        kind, value, col = tok
        if kind == "num":
            return ("num", value)
        if tok[:2] == ("op", "-"):
            return ("bin", "-", ("num", 0.0), self.unary())
        if tok[:2] == ("op", "("):
            inner = self.expr()
            self.take(")")
            return inner
        if kind == "name":
            return self.name(value, col)
        raise ExprError("expected a value at column %d, found %s" % (col + 1, self.show(tok)))

    def name(self, value: str, col: int):
        if value in ("true", "false"):
            return ("num", 1.0 if value == "true" else 0.0)
        if value in KEYWORDS:
            raise ExprError("expected a value at column %d, found %r" % (col + 1, value))
        if value in AGGREGATES and self.peek()[1] == "(":
            self.take("(")
            ref = self.take()
            self.take(")")
            group, _, point = str(ref[1]).partition(".")
            if ref[0] != "name" or not point or group not in self.groups:
                raise ExprError("%s() needs GROUP.point with a known group, got %r (groups: %s)"
                                % (value, ref[1], ", ".join(sorted(self.groups)) or "none"))
            return ("agg", value, group, point)
        device, _, point = value.partition(".")
        if not device or not point:
            raise ExprError("%r at column %d is not a point: write DEVICE.point, e.g. L-001.driver_temp"
                            % (value, col + 1))
        return ("pt", value)


def parse(text: str, groups: dict = None) -> tuple:
    """The tree of an expression; raises ExprError with the reason."""
    parser = _Parser(str(text), groups or {})
    tree = parser.expr()
    tok = parser.peek()
    if tok[0] != "end":
        raise ExprError("unexpected %s at column %d" % (parser.show(tok), tok[2] + 1))
    return tree


def points_of(tree: tuple, groups: dict) -> list:
    """Every point key a tree reads."""
    kind = tree[0]
    if kind == "pt":
        return [tree[1]]
    if kind == "agg":
        return [d + "." + tree[3] for d in groups[tree[2]]]
    found = []
    for sub in tree[1:]:
        if isinstance(sub, tuple):
            found.extend(points_of(sub, groups))
    return found


def _aggregate(fn: str, values: list):
    if fn == "count":
        return float(len(values))
    if not values:
        return None
    if fn == "min":
        return min(values)
    if fn == "max":
        return max(values)
    return sum(values) / len(values)


def _arith(op: str, a, b):
    if a is None or b is None:
        return None
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b else None


def _compare(op: str, a, b) -> bool:
    if a is None or b is None:
        return False  # a missing point never satisfies a comparison
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "==":
        return a == b
    return a != b


def evaluate(tree: tuple, points: dict, groups: dict):
    """Value of a tree over points {'DEVICE.point': number}; missing points give None, comparisons False."""
    kind = tree[0]
    if kind == "num":
        return tree[1]
    if kind == "pt":
        value = points.get(tree[1])
        return None if value is None else float(value)
    if kind == "agg":
        values = [float(points[k]) for k in [d + "." + tree[3] for d in groups[tree[2]]]
                  if points.get(k) is not None]
        return _aggregate(tree[1], values)
    if kind == "bin":
        return _arith(tree[1], evaluate(tree[2], points, groups), evaluate(tree[3], points, groups))
    if kind == "cmp":
        return _compare(tree[1], evaluate(tree[2], points, groups), evaluate(tree[3], points, groups))
    if kind == "not":
        return not truthy(evaluate(tree[1], points, groups))
    if kind == "and":
        return truthy(evaluate(tree[1], points, groups)) and truthy(evaluate(tree[2], points, groups))
    return truthy(evaluate(tree[1], points, groups)) or truthy(evaluate(tree[2], points, groups))


def truthy(value) -> bool:
    """A value as a condition: None (missing) and 0 are false."""
    return bool(value) if value is not None else False
