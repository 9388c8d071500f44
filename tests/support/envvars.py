"""Every environment variable the code reads, found in its source (for the reference's test)."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("app", "scripts", "gunicorn.conf.py", "wsgi.py")
_READERS = {"getenv"}  # and every helper named _env_* or env_* (config.py)
_NAME = re.compile(r"^[A-Z][A-Z0-9_]+$")
_SHELL_READ = re.compile(r"\$\{?([A-Z][A-Z0-9_]+)")
_UNSET = object()


@dataclass(frozen=True)
class EnvRead:
    name: str
    where: str
    default: object = _UNSET  # a literal default when the code gives one

    @property
    def has_default(self) -> bool:
        return self.default is not _UNSET


def _python_files():
    for source in SOURCES:
        path = ROOT / source
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def _literal(node: ast.AST) -> object:
    """A default written as a literal or constant arithmetic (24 * 3600); else unset."""
    try:
        return ast.literal_eval(node)
    except ValueError:
        pass
    if isinstance(node, ast.BinOp) and all(isinstance(n, ast.Constant)
                                           for n in (node.left, node.right)):
        return eval(compile(ast.Expression(node), "<default>", "eval"), {"__builtins__": {}})
    return _UNSET


def _is_environ(node: ast.AST) -> bool:
    text = ast.unparse(node)
    return text in ("os.environ", "environ", "env")


def _reads(tree: ast.AST, where: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            helper = name in _READERS or str(name).startswith(("_env", "env_"))
            from_env = helper or (name == "get" and isinstance(func, ast.Attribute)
                                  and _is_environ(func.value))
            first = node.args[0] if node.args else None
            if from_env and isinstance(first, ast.Constant) and _NAME.match(str(first.value)):
                default = _literal(node.args[1]) if len(node.args) > 1 else _UNSET
                yield EnvRead(first.value, where, default)
            for keyword in node.keywords:  # click options: envvar="NAME"
                if (keyword.arg == "envvar" and isinstance(keyword.value, ast.Constant)
                        and _NAME.match(str(keyword.value.value))):
                    yield EnvRead(keyword.value.value, where)
        elif (isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load)
              and _is_environ(node.value)
              and isinstance(node.slice, ast.Constant) and _NAME.match(str(node.slice.value))):
            yield EnvRead(node.slice.value, where)


def environment_reads() -> list[EnvRead]:
    found = []
    for path in _python_files():
        where = str(path.relative_to(ROOT))
        found += _reads(ast.parse(path.read_text(), filename=where), where)
    for path in sorted((ROOT / "scripts").glob("*.sh")):
        text = "\n".join(line for line in path.read_text().splitlines()
                         if not line.lstrip().startswith("#"))
        found += [EnvRead(name, str(path.relative_to(ROOT)))
                  for name in _SHELL_READ.findall(text)]
    return found
