"""Prints the bytes of static data (the data section) in each WASM file given, and warns when
the core holds all of it: wasm-split then gave up on moving each chunk's data (strings,
tables) into that chunk ("Overlong segment ... putting it in main module", at its `warn`
level, which cargo-leptos does not show), and every page downloads every chunk's data.
Used by .ci/page-weight.

    python3 benches/support/wasm_data.py target/site/pkg/*.wasm
"""
import sys


def leb(buf, i):
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def data_bytes(path):
    buf = open(path, "rb").read()
    i, total = 8, 0
    while i < len(buf):
        section = buf[i]
        size, i = leb(buf, i + 1)
        if section == 11:
            total += size
        i += size
    return total


def main(paths):
    sizes = {path: data_bytes(path) for path in paths}
    core = [p for p in paths if "/apexaurum." in p or p.startswith("apexaurum.")]
    chunks = [p for p in paths if p not in core]
    for path, size in sizes.items():
        print(f"static data {path.rsplit('/', 1)[-1]}: {size} B")
    if core and chunks and sum(sizes[p] for p in chunks) < sizes[core[0]] // 50:
        print("WARNING: the chunks hold (almost) no static data: wasm-split left all of it in "
              "the core, which every page loads (see benches/support/wasm_data.py)")


if __name__ == "__main__":
    main(sys.argv[1:])
