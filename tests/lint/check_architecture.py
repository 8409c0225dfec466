#!/usr/bin/env python3
"""docs/architecture.md matches the code (lint_architecture).

Three checks, all from the sources themselves:
  1. the library graph drawn in docs/architecture.md (the block after the
     marker "<!-- libraries -->") is the one connector/**/CMakeLists.txt
     declares (ps_module LIBS, ps_core's members);
  2. every #include "dir/file.h" under connector/ stays inside that graph: a
     file includes only headers of its own library or of one it depends on
     (transitively), so the drawing is also the include graph;
  3. every source file under connector/ is named in docs/architecture.md.
Exit 0 when all hold; otherwise one line per problem and exit 1.
"""
import os
import re
import sys

HEADER_ONLY = {
    # interfaces without a .c of their own: who may include them
    "component.h": None,  # the component interface: anyone
    "daemon.h": {"presence-sync"},
}


def parse_cmake(root):
    """Libraries: name -> (set of source paths, set of ps_* dependencies)."""
    libs = {}
    for d, _, files in os.walk(os.path.join(root, "connector")):
        if "CMakeLists.txt" not in files:
            continue
        text = open(os.path.join(d, "CMakeLists.txt")).read()
        text = re.sub(r"#[^\n]*", "", text)
        rel = os.path.relpath(d, os.path.join(root, "connector"))
        for m in re.finditer(r"ps_module\(\s*(\w+)(.*?)\)", text, re.S):
            name, body = m.group(1), m.group(2)
            src = re.search(r"SOURCES(.*?)(LIBS|$)", body, re.S).group(1).split()
            deps = re.search(r"LIBS(.*)", body, re.S)
            deps = deps.group(1).split() if deps else []
            srcs = {os.path.normpath(os.path.join(rel, s)) for s in src}
            libs[name] = (srcs, {x for x in deps if x.startswith("ps_")})
        m = re.search(r"add_library\(ps_core INTERFACE\)\s*target_link_libraries\(ps_core INTERFACE(.*?)\)",
                      text, re.S)
        if m:
            libs["ps_core"] = (set(), set(m.group(1).split()))
        m = re.search(r"add_executable\(presence-sync(.*?)\)\s*target_link_libraries\(presence-sync PRIVATE(.*?)\)",
                      text, re.S)
        if m:
            libs["presence-sync"] = ({os.path.normpath(s) for s in m.group(1).split()},
                                     {x for x in m.group(2).split() if x.startswith("ps_")})
    return libs


def closure(libs, name):
    seen, todo = set(), [name]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo.extend(libs.get(n, (set(), set()))[1])
    return seen


def parse_doc(doc):
    m = re.search(r"<!-- libraries -->\s*```\n(.*?)```", doc, re.S)
    if not m:
        return None
    drawn = {}
    for line in m.group(1).splitlines():
        if ":" not in line:
            continue
        name, deps = line.split(":", 1)
        drawn[name.strip()] = set(deps.split())
    return drawn


def owner_of(libs, path):
    for name, (srcs, _) in libs.items():
        if path in srcs:
            return name
    return None


def main(root):
    problems = []
    libs = parse_cmake(root)
    doc_path = os.path.join(root, "docs", "architecture.md")
    doc = open(doc_path).read()

    drawn = parse_doc(doc)
    if drawn is None:
        problems.append("docs/architecture.md: no <!-- libraries --> block")
        drawn = {}
    for name, (_, deps) in sorted(libs.items()):
        if name not in drawn:
            problems.append(f"docs/architecture.md: library {name} is not drawn")
        elif drawn[name] != deps:
            problems.append(f"docs/architecture.md: {name}: drawn {' '.join(sorted(drawn[name]))}"
                            f", CMake says {' '.join(sorted(deps))}")
    for name in sorted(set(drawn) - set(libs)):
        problems.append(f"docs/architecture.md: library {name} is drawn but not built")

    conn = os.path.join(root, "connector")
    files = []
    for d, _, names in os.walk(conn):
        for n in names:
            if n.endswith((".c", ".h")):
                files.append(os.path.relpath(os.path.join(d, n), conn))
    for f in sorted(files):
        base = os.path.splitext(f)[0]
        lib = owner_of(libs, base + ".c") or owner_of(libs, f)
        if lib is None and f.endswith(".h"):
            # a header without a .c of its own belongs to the library of its folder
            folder = os.path.dirname(f)
            cands = [n for n, (s, _) in libs.items() if any(os.path.dirname(x) == folder for x in s)]
            lib = cands[0] if len(cands) == 1 else None
        allowed = closure(libs, lib) if lib else set()
        for line_no, line in enumerate(open(os.path.join(conn, f)), 1):
            m = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
            if not m:
                continue
            inc = os.path.normpath(os.path.join(os.path.dirname(f), m.group(1)))
            if not os.path.exists(os.path.join(conn, inc)):
                inc = os.path.normpath(m.group(1))
            if inc in HEADER_ONLY:
                who = HEADER_ONLY[inc]
                if who is not None and lib not in who:
                    problems.append(f"connector/{f}:{line_no}: includes {inc}, reserved to {sorted(who)}")
                continue
            ilib = owner_of(libs, os.path.splitext(inc)[0] + ".c")
            if ilib is None or lib is None:
                continue  # a header of the library's own folder, checked with that folder
            if ilib not in allowed:
                problems.append(f"connector/{f}:{line_no}: includes {inc} of {ilib}, "
                                f"but {lib} does not depend on {ilib}")
        name = os.path.basename(base)
        if not re.search(r"`" + re.escape(name) + r"(\.c|\.h|\.\[ch\])?`", doc):
            problems.append(f"docs/architecture.md: connector/{f} is not named")

    return problems


def self_test():
    """A tiny tree with one of each fault, then the same tree made right."""
    import tempfile

    def tree(d, a_includes_b, doc_edges, doc_names):
        os.makedirs(os.path.join(d, "connector", "core"))
        os.makedirs(os.path.join(d, "docs"))
        open(os.path.join(d, "connector", "CMakeLists.txt"), "w").write(
            "ps_module(ps_a SOURCES core/a.c)\nps_module(ps_b SOURCES core/b.c LIBS ps_a)\n")
        open(os.path.join(d, "connector", "core", "a.c"), "w").write(
            '#include "core/b.h"\n' if a_includes_b else '#include "core/a.h"\n')
        open(os.path.join(d, "connector", "core", "b.c"), "w").write('#include "core/a.h"\n')
        open(os.path.join(d, "connector", "core", "a.h"), "w").write("")
        open(os.path.join(d, "connector", "core", "b.h"), "w").write("")
        open(os.path.join(d, "docs", "architecture.md"), "w").write(
            doc_names + "\n<!-- libraries -->\n```\n" + doc_edges + "```\n")

    cases = [
        (True, "ps_a:\nps_b: ps_a\n", "`a.[ch]` `b.[ch]`", ["includes core/b.h of ps_b"]),
        (False, "ps_a:\nps_b:\n", "`a.[ch]` `b.[ch]`", ["ps_b: drawn , CMake says ps_a"]),
        (False, "ps_a:\n", "`a.[ch]` `b.[ch]`", ["library ps_b is not drawn"]),
        (False, "ps_a:\nps_b: ps_a\n", "`a.[ch]`", ["connector/core/b.c is not named"]),
        (False, "ps_a:\nps_b: ps_a\n", "`a.[ch]` `b.[ch]`", []),
    ]
    failed = 0
    for a_inc, edges, names, want in cases:
        with tempfile.TemporaryDirectory() as d:
            tree(d, a_inc, edges, names)
            got = main(d)
        ok = all(any(w in g for g in got) for w in want) and (want or not got)
        if not ok:
            failed += 1
            print(f"self-test: want {want}, got {got}")
    print("self-test:", "FAILED" if failed else f"{len(cases)} cases ok")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    found = main(sys.argv[1] if len(sys.argv) > 1 else ".")
    for p in found:
        print(p)
    sys.exit(1 if found else 0)
