#!/usr/bin/env python3
"""Checks the layout rules a compiler does not: within each crate no two modules import each other
(directly or round a longer circle), no source file runs past 600 lines, and no function past 80
lines unless a comment says why it is kept whole.

    python3 scripts/check-layout.py            exit 1 and one line per finding when a rule breaks

Why a script of our own: `cargo modules dependencies --acyclic` answers the first question, but it
builds rust-analyzer's crates (a quarter of an hour on two cores, on every fresh CI machine), and
none answers the other two. The script reads the sources with a small tokenizer (comments and
string literals blanked out) that is enough for `use` paths, braces and line counts; it does not
parse Rust.

Rules and their exceptions:
- cycles: the modules compared are siblings (the children of one module); a child referring to its
  parent (`super::`) is how Rust nests and is not counted, nor is a parent naming its children;
- files: test files (`tests/`, `*/tests.rs`) and the data tables listed in DATA_TABLES are exempt;
- functions: a function longer than 80 lines passes when a comment right above it (or its doc)
  contains "Kept whole:" followed by the reason; test files are exempt.
"""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FILE_LINES = 600
MAX_FN_LINES = 80
# Data, not logic: tables of facts whose length is their content.
DATA_TABLES = {
    "crates/domain/src/catalog/table.rs",
}
KEPT_WHOLE = "Kept whole:"


def blank_comments_and_strings(text):
    """The source with comments and string/char literals replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            close = '"' + m.group(1)
            j = text.find(close, i + len(m.group(0)))
            j = n if j < 0 else j + len(close)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "'":
            # A char literal ('a', '\n', '\u{..}') or a lifetime ('a): only the former is blanked.
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:])
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def crates():
    base = os.path.join(ROOT, "crates")
    for name in sorted(os.listdir(base)):
        src = os.path.join(base, name, "src")
        if os.path.isdir(src):
            yield name, src


def module_of(src, path):
    """The module path of a source file: `lib.rs`/`main.rs` is [], `a/b.rs` is [a, b]."""
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[0] == "bin":
        return None  # each binary is a crate of its own
    if rel in (["lib"], ["main"]):
        return []
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::\w+)*)::\{([^;]*)\};", re.S)


def references(module, code):
    """Absolute module paths this module's code names (a path may end in an item name)."""
    found = []

    def absolute(head, tail):
        parts = [p for p in tail.split("::") if p]
        if head == "crate":
            return parts
        if head == "self":
            return module + parts
        base = module[:-1]
        while parts and parts[0] == "super":
            base, parts = base[:-1], parts[1:]
        return base + parts

    for m in USE_GROUP.finditer(code):
        prefix = absolute(m.group(1), m.group(2))
        for item in re.split(r",", re.sub(r"\{[^{}]*\}", "", m.group(3))):
            name = item.strip().split("::")[0].split(" ")[0]
            if name and name != "self":
                found.append(prefix + [name])
        for inner in re.finditer(r"(\w+)::\{", m.group(3)):
            found.append(prefix + [inner.group(1)])
    for m in PATH.finditer(code):
        found.append(absolute(m.group(1), m.group(2)))
    return found


def find_cycles(graph):
    """Every strongly connected component of more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check_cycles(findings):
    for crate, src in crates():
        modules = {}
        for dirpath, _, files in os.walk(src):
            for f in files:
                if f.endswith(".rs"):
                    path = os.path.join(dirpath, f)
                    module = module_of(src, path)
                    if module is not None:
                        with open(path, encoding="utf-8") as fh:
                            modules[tuple(module)] = blank_comments_and_strings(fh.read())
        known = set(modules)
        # Sibling edges: a module (or anything inside it) naming another child of the same parent.
        graphs = {}
        for module, code in modules.items():
            for target in references(list(module), code):
                # The deepest known module the path names.
                while target and tuple(target) not in known:
                    target = target[:-1]
                if not target:
                    continue
                target = tuple(target)
                common = 0
                while common < min(len(module), len(target)) and module[common] == target[common]:
                    common += 1
                if common == len(module) or common == len(target):
                    continue  # parent and child
                parent = module[:common]
                a, b = module[common], target[common]
                graphs.setdefault(parent, {}).setdefault(a, set()).add(b)
        for parent, graph in sorted(graphs.items()):
            for component in find_cycles(graph):
                where = "::".join((crate,) + parent)
                findings.append(f"crates/{crate}: modules import each other in {where}: {' <-> '.join(component)}")


def is_test_file(rel):
    parts = rel.split(os.sep)
    return "tests" in parts[:-1] or parts[-1] == "tests.rs" or parts[0] == "tests"


def check_lengths(findings):
    for top in ("crates", "tests"):
        for dirpath, _, files in os.walk(os.path.join(ROOT, top)):
            for f in sorted(files):
                if not f.endswith(".rs"):
                    continue
                path = os.path.join(dirpath, f)
                rel = os.path.relpath(path, ROOT)
                if is_test_file(rel):
                    continue
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
                code = blank_comments_and_strings(text)
                # Unit tests at the bottom of a file do not count towards its length.
                body = re.split(r"\n#\[cfg\(test\)\]\s*\nmod tests", code)[0]
                lines = body.count("\n") + 1
                if lines > MAX_FILE_LINES and rel not in DATA_TABLES:
                    findings.append(f"{rel}: {lines} lines (at most {MAX_FILE_LINES} outside tests and data tables)")
                check_functions(rel, text, body, findings)


FN = re.compile(r"^[ \t]*(?:pub(?:\([\w: ]+\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+(\w+)", re.M)


def check_functions(rel, text, code, findings):
    for m in FN.finditer(code):
        start = code.find("{", m.end())
        semicolon = code.find(";", m.end())
        if start < 0 or (0 <= semicolon < start):
            continue  # a declaration without a body
        depth, j = 0, start
        while j < len(code):
            if code[j] == "{":
                depth += 1
            elif code[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, j) + 1
        if last - first + 1 <= MAX_FN_LINES:
            continue
        # The comment block right above the function (doc comments and attributes included).
        above = text.split("\n")[: first - 1]
        block = []
        for line in reversed(above):
            stripped = line.strip()
            if stripped.startswith(("//", "#[", "#![")) or stripped == "":
                block.append(stripped)
                if stripped == "" and block[:-1] and not block[-2].startswith("//"):
                    break
            else:
                break
        if any(KEPT_WHOLE in line for line in block):
            continue
        findings.append(f"{rel}:{first}: fn {m.group(1)} has {last - first + 1} lines (at most {MAX_FN_LINES}, or a '{KEPT_WHOLE}' comment)")


def main():
    findings = []
    check_cycles(findings)
    check_lengths(findings)
    for finding in findings:
        print(finding)
    if findings:
        print(f"check-layout: {len(findings)} finding(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
