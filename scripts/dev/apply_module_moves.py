"""Rewrite imports and module references in a tree from scripts/dev/module_moves.txt.

Each line of the map is `old.dotted.module new.dotted.module` (a third field `names-only`: the
old module stays, the names it defined moved). The rewrite is one simultaneous
pass over every text file, and running it again changes nothing: a name that is already one of
the new names is left alone (the longest name wins, so `app.services.usage.drain` is never taken
for the old module `app.services.usage`). It rewrites
  - `from P import name` where P.name moved (`from app.services import usage_drain`
    becomes `from app.services.usage import drain as usage_drain`, keeping the local name);
  - every other dotted reference in an import statement, a string (mock targets, logger names,
    entry points) or a comment; never an attribute chain in code (a Flask `app.cli` stays);
  - paths in prose: `app/services/usage_drain.py` and, for a moved package, `app/migration/`;
    a bare `usage_drain.py` becomes `usage/drain.py` when no other file in the tree has that name.

Usage: python scripts/dev/apply_module_moves.py [--map FILE] [--check] [PATH ...]
(default PATH: the current directory). --check lists the files it would change and exits 1 if any.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tokenize
from pathlib import Path

DEFAULT_MAP = Path(__file__).with_name("module_moves.txt")
SUFFIXES = {".py", ".md", ".txt", ".toml", ".cfg", ".ini", ".sh", ".html", ".yml", ".yaml",
            ".json", ".j2", ".rst"}
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache",
             ".ruff_cache", ".pytest_cache", "build", "dist"}


def load_map(path: Path) -> tuple[dict[str, str], set[str]]:
    """The moves, and the old modules that stay where they are (third field `names-only`:
    the names they defined moved, so imports change but mentions of the file do not)."""
    moves: dict[str, str] = {}
    staying: set[str] = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            old, new, *flag = line.split()
            moves[old] = new
            if flag == ["names-only"]:
                staying.add(old)
    clash = set(moves) & set(moves.values())
    if clash:
        raise SystemExit(f"a new name is also an old name, the rewrite would chain: {clash}")
    return moves, staying


class Rewriter:
    def __init__(self, moves: dict[str, str], basenames: dict[str, set[str]],
                 staying: frozenset[str] = frozenset()) -> None:
        self.moves = moves
        self.new_names = set(moves.values())
        names = sorted(set(moves) | self.new_names, key=len, reverse=True)
        dotted = "|".join(re.escape(n) for n in names)
        self.dotted = re.compile(rf"(?<![\w.])(?:{dotted})(?![\w])")
        self.from_import = re.compile(
            r"^(?P<indent>[ \t]*)from[ \t]+(?P<mod>[\w.]+)[ \t]+import[ \t]+"
            r"(?P<names>\([^)]*\)|[^\n]*)", re.M)
        self.import_line = re.compile(r"^[ \t]*import[ \t]+[^\n]*", re.M)
        packages = {old for old in moves if any(o.startswith(old + ".") for o in moves)}
        self.paths: dict[str, str] = {}
        for old, new in moves.items():
            if old in staying:
                continue
            self.paths[old.replace(".", "/") + ".py"] = new.replace(".", "/") + ".py"
            if old in packages:
                self.paths[old.replace(".", "/") + "/"] = new.replace(".", "/") + "/"
        for old, new in moves.items():
            if old in staying:
                continue
            old_leaf, new_leaf = old.rsplit(".", 1)[1] + ".py", new.rsplit(".", 1)[1] + ".py"
            own = {old.replace(".", "/") + ".py", new.replace(".", "/") + ".py"}
            if old_leaf != new_leaf and basenames.get(old_leaf, set()) <= own \
                    and sum(o.endswith("." + old_leaf[:-3]) for o in moves) == 1:
                self.paths[old_leaf] = "/".join(new.split(".")[-2:]) + ".py"
        alternation = "|".join(re.escape(p) for p in sorted(self.paths, key=len, reverse=True))
        self.path = re.compile(rf"(?<![\w/.])(?:{alternation})(?![\w])")

    def module(self, name: str) -> str:
        """The new name of a dotted reference (a module, or an attribute under one)."""
        return self.dotted.sub(self._dotted, name)

    def _dotted(self, match: re.Match[str]) -> str:
        found = match.group(0)
        return found if found in self.new_names else self.moves[found]

    def _from(self, match: re.Match[str]) -> str:
        indent, mod, names = match.group("indent", "mod", "names")
        body = names.strip()
        if body.startswith("("):
            body = body[1:-1]
        comment = ""
        if "#" in body and not names.strip().startswith("("):
            body, comment = body.split("#", 1)
            comment = "  #" + comment.rstrip()
        items = [i.strip() for i in re.sub(r"#[^\n]*", "", body).split(",") if i.strip()]
        moved, kept = [], []
        for item in items:
            parts = item.split()
            name, alias = parts[0], parts[2] if len(parts) == 3 else None
            full = f"{mod}.{name}"
            if full in self.moves and full not in self.new_names:
                moved.append((self.moves[full], alias or name))
            else:
                kept.append(item)
        submodules = kept and all(f"{mod}.{item.split()[0]}" in self.new_names for item in kept)
        new_mod = mod if submodules else self.module(mod)
        if not moved:
            if new_mod == mod:
                return match.group(0)
            start = match.start("mod") - match.start()
            return match.group(0)[:start] + new_mod + match.group(0)[start + len(mod):]
        lines = []
        if kept:
            lines.append(f"{indent}from {new_mod} import {', '.join(kept)}")
        for new, local in moved:
            parent, leaf = new.rsplit(".", 1)
            alias = "" if leaf == local else f" as {local}"
            lines.append(f"{indent}from {parent} import {leaf}{alias}")
        return "\n".join(lines) + comment

    def text(self, source: str, python: bool) -> str:
        if python:
            source = self.import_line.sub(lambda m: self.module(m.group(0)), source)
            out, last = [], 0
            for match in self.from_import.finditer(source):
                out.append(source[last:match.start()])
                out.append(self._from(match))
                last = match.end()
            out.append(source[last:])
            source = self._strings_and_comments("".join(out))
        else:
            source = self.module(source)
        return self.path.sub(lambda m: self.paths[m.group(0)], source)

    def _strings_and_comments(self, source: str) -> str:
        kinds = {tokenize.STRING, tokenize.COMMENT, getattr(tokenize, "FSTRING_MIDDLE", -1)}
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
        except (tokenize.TokenError, SyntaxError):
            return source
        starts = [0]
        for line in source.splitlines(keepends=True):
            starts.append(starts[-1] + len(line))
        edits = []
        for token in tokens:
            if token.type in kinds:
                new = self.module(token.string)
                if new != token.string:
                    begin = starts[token.start[0] - 1] + token.start[1]
                    edits.append((begin, begin + len(token.string), new))
        for begin, end, new in reversed(edits):
            source = source[:begin] + new + source[end:]
        return source


def files(roots: list[Path], skip: set[Path]):
    for root in roots:
        if root.is_file():
            yield root
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and path.resolve() not in skip \
                    and not SKIP_DIRS & set(path.relative_to(root).parts[:-1]):
                yield path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map", type=Path, default=DEFAULT_MAP)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("paths", nargs="*", type=Path, default=[Path(".")])
    args = parser.parse_args(argv)
    skip = {args.map.resolve(), Path(__file__).resolve()}
    basenames: dict[str, set[str]] = {}
    for path in files(args.paths, skip):
        if path.suffix == ".py":
            basenames.setdefault(path.name, set()).add(path.as_posix().lstrip("./"))
    moves, staying = load_map(args.map)
    rewriter = Rewriter(moves, basenames, frozenset(staying))
    changed = []
    for path in files(args.paths, skip):
        try:
            before = path.read_text()
        except UnicodeDecodeError:
            continue
        after = rewriter.text(before, python=path.suffix == ".py")
        if after != before:
            changed.append(path)
            if not args.check:
                path.write_text(after)
    for path in changed:
        print(path)
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
