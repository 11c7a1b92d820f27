"""The layout rules CI holds the code to (clippy holds the rest):
- no import cycle between sibling modules of a crate, whether named in a
  `use` tree or inline in code (a parent and the children it is split into
  may refer to each other: `use super::*`);
- no source file over 800 lines outside its `#[cfg(test)] mod tests`;
- the client never names the mock server (`mock_ca::` under client/src).
Prints what breaks a rule and exits 1, or one line per crate and exits 0."""
import os
import re
import sys

CRATES = ["proto/src", "mock-ca/src", "client/src", "src"]
MAX_LINES = 800


def rust_files(root):
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".rs")]


def without_tests(text):
    i = text.find("#[cfg(test)]\nmod tests")
    return text if i < 0 else text[:i]


def module_path(root, f):
    parts = os.path.relpath(f, root)[:-3].split(os.sep)
    return tuple(parts[:-1] if parts[-1] in ("mod", "lib", "main") else parts)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def use_paths(tree):
    """Every path a `use` tree names: `super::{a, b::{c, d}}` gives
    `super::a`, `super::b::c` and `super::b::d`."""
    tree = re.sub(r"\s+", "", tree)
    depth, start, parts = 0, 0, []
    brace = tree.find("{")
    if brace < 0:
        return [re.sub(r"as\w+$", "", tree).split("::")] if tree else []
    prefix = tree[:brace].rstrip(":")
    inner = tree[brace + 1 : tree.rfind("}")]
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    head = prefix.split("::") if prefix else []
    out = []
    for part in parts:
        for p in use_paths(part):
            out.append(head + [x for x in p if x != "self"])
    return out


def references(text, me):
    """Module paths a file names, in `use` trees (`use super::{a, b::c}`)
    and inline in expressions and types (`crate::a::f()`, `super::x::T`)."""
    text = strip_comments(text)
    paths = [m.group(1).split("::") for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", text)]
    for m in re.finditer(r"^\s*(?:pub(?:\([\w:]+\))?\s+)?use\s+([^;]*);", text, re.M):
        paths.extend(use_paths(m.group(1)))
    out = set()
    for p in paths:
        p = [x for x in p if x and x != "*"]
        if not p:
            continue
        if p[0] == "crate":
            out.add(tuple(p[1:]))
        elif p[0] == "self":
            out.add(tuple(list(me) + p[1:]))
        elif p[0] == "super":
            ups = 0
            while ups < len(p) and p[ups] == "super":
                ups += 1
            out.add(tuple(list(me[: max(len(me) - ups, 0)]) + p[ups:]))
    return out


def sibling_edges(root):
    mods = {module_path(root, f): f for f in rust_files(root)}
    edges = set()
    for me, f in mods.items():
        for r in references(without_tests(open(f, encoding="utf-8").read()), me):
            target = max((m for m in mods if r[: len(m)] == m), key=len, default=())
            i = 0
            while i < min(len(me), len(target)) and me[i] == target[i]:
                i += 1
            if i < len(me) and i < len(target):
                edges.add((me[: i + 1], target[: i + 1]))
    return edges


def on_a_cycle(edges):
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)

    def reachable(start):
        seen, todo = set(), [start]
        while todo:
            for n in graph.get(todo.pop(), ()):
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return seen

    return sorted(n for n in graph if n in reachable(n))


def check_the_reader():
    """The path reader on the forms it must see, so a regression in it fails
    here instead of letting a cycle through."""
    me = ("web", "routes")
    text = """use super::{
        certsrv, ndes::{self, scep as s},
    };
    fn f() { super::inject::inject(); crate::ca::Ca::new(); } // super::gone
    """
    want = {("web", "certsrv"), ("web", "ndes"), ("web", "ndes", "scep"), ("web", "inject", "inject"),
            ("ca", "Ca", "new")}
    got = references(text, me)
    assert got == want, f"house_rules reads {got}, not {want}"


def main():
    check_the_reader()
    broken = []
    for root in CRATES:
        edges = sibling_edges(root)
        loops = on_a_cycle(edges)
        for m in loops:
            broken.append(f"{root}: module {'::'.join(m)} is on an import cycle")
        for f in rust_files(root):
            n = without_tests(open(f, encoding="utf-8").read()).count("\n")
            if n > MAX_LINES:
                broken.append(f"{f}: {n} lines outside its tests (at most {MAX_LINES})")
        print(f"{root}: {len(edges)} imports between sibling modules, {len(loops)} on a cycle")
    for f in rust_files("client/src"):
        if "mock_ca::" in open(f, encoding="utf-8").read():
            broken.append(f"{f}: names mock_ca (the client must not depend on the mock)")
    for b in broken:
        print(b)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
