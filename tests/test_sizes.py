"""Size limits of docs/architecture.md: a module past 300 lines or a function past 60 hides a
second job. Prints the longest ones (pytest -s) so a reviewer sees where the pressure is."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
# explained exceptions, each with why it stays long for now
LONG_MODULES: dict[str, str] = {}
LONG_FUNCTIONS: dict[str, str] = {
}


def product_modules():
    for top in ("agent", "drivers", "edge_rules"):
        yield from sorted((REPO / top).rglob("*.py"))


def function_lengths():
    for path in product_modules():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield (node.end_lineno - node.lineno + 1,
                       f"{path.relative_to(REPO)}:{node.name}")


def test_no_module_over_the_limit():
    sizes = sorted(((len(p.read_text(encoding="utf-8").splitlines()), str(p.relative_to(REPO)))
                    for p in product_modules()), reverse=True)
    print("\nlongest modules:", ", ".join(f"{name} {n}" for n, name in sizes[:5]))
    over = [f"{name}: {n} lines" for n, name in sizes
            if n > MAX_MODULE_LINES and name not in LONG_MODULES]
    assert not over, f"modules over {MAX_MODULE_LINES} lines (split them):\n" + "\n".join(over)


def test_no_function_over_the_limit():
    lengths = sorted(function_lengths(), reverse=True)
    print("\nlongest functions:", ", ".join(f"{name} {n}" for n, name in lengths[:5]))
    over = [f"{name}: {n} lines" for n, name in lengths
            if n > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS]
    assert not over, (f"functions over {MAX_FUNCTION_LINES} lines (split them, or explain in "
                      "LONG_FUNCTIONS):\n" + "\n".join(over))
