"""Sums the functions wasm-split put in one module (its verbose trace) by crate or module
and by generic function. Used by benches/wasm_breakdown.sh."""
import collections
import re
import signal
import sys

REPLACEMENTS = [("$LT$", "<"), ("$GT$", ">"), ("$RF$", "&"), ("$u20$", " "), ("$u7b$", "{"),
                ("$u7d$", "}"), ("$C$", ","), ("..", "::"), ("$u27$", "'"), ("$BP$", "*"),
                ("$u5b$", "["), ("$u5d$", "]"), ("$u3b$", ";")]


def demangle(name):
    """Rust's legacy mangling, enough to read (generic arguments are not in it)."""
    if not name.startswith("_ZN"):
        return name
    rest, parts = name[3:], []
    while rest and rest[0].isdigit():
        digits = re.match(r"\d+", rest).group(0)
        length = int(digits)
        rest = rest[len(digits):]
        parts.append(rest[:length])
        rest = rest[length:]
    if parts and re.fullmatch(r"h[0-9a-f]{16}", parts[-1]):
        parts.pop()
    out = "::".join(parts)
    for a, b in REPLACEMENTS:
        out = out.replace(a, b)
    return out.lstrip("_")


def owner(name):
    if "apexaurum::" in name:
        m = re.search(r"apexaurum::((?:[a-z_]+::){1,3})", name)
        return "apexaurum::" + (m.group(1) if m else "?")
    m = re.match(r"<?&?(?:mut )?(?:dyn )?([A-Za-z_0-9]+)", name)
    return m.group(1) if m else name[:20]


def generic(name):
    for _ in range(4):
        name = re.sub(r"<[^<>]*>", "<>", name)
    return name[:140]


def main(log, wanted, lines):
    modules, current = collections.defaultdict(list), None
    for line in open(log, encoding="utf-8", errors="replace"):
        line = re.sub(r"\x1b\[[0-9;]*m", "", line).rstrip()
        m = re.search(r"SPLIT: ============== (.*?)(?:  : total size.*)?$", line)
        if m:
            current = m.group(1)
            continue
        m = re.search(r'func\[\d+\] <Some\("(.*)"\)> size=(\d+)', line)
        if m and current:
            modules[current].append((int(m.group(2)), demangle(m.group(1))))
    names = [k for k in modules if k.startswith(wanted)]
    if not names:
        sys.exit(f"no module starts with {wanted!r}; modules: {sorted(modules)}")
    for name in names:
        funcs = modules[name]
        print(f"== {name}: {len(funcs)} functions, {sum(s for s, _ in funcs):,} bytes")
        for title, key in (("by crate or module", owner), ("by generic function", generic)):
            sizes, counts = collections.Counter(), collections.Counter()
            for size, fn in funcs:
                sizes[key(fn)] += size
                counts[key(fn)] += 1
            print(f"-- {title} (bytes, functions)")
            for k, v in sizes.most_common(lines):
                print(f"{v:9,} {counts[k]:5} {k}")


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `| head` ends it quietly
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
