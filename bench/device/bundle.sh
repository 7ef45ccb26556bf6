#!/usr/bin/env bash
# Builds .dev/ (ignored): what the lent device machine lacks for the front-end benches, carried with `carry: [".dev"]`.
# The device has Python 3.12 and no registry, PostgreSQL or Redis; this box has Python 3.11, Debian 12's
# PostgreSQL 15 and Redis. So: this project's dependencies installed for CPython 3.12 (pip --target, from the
# registry, the versions pinned to .venv's), PostgreSQL's server and the shared libraries it links beyond libc
# (the device's own are another distribution's), and redis-server likewise; each compressed (the carry limit
# is 64 MiB). Run here from the repository root; bench/device/run.sh unpacks it there.
set -euo pipefail
out=.dev
rm -rf "$out" /tmp/nxz-bundle && mkdir -p "$out" /tmp/nxz-bundle/{whl,site,pg,redis}
b=/tmp/nxz-bundle
plat=(--python-version 3.12 --implementation cp --only-binary=:all:)
for p in manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do plat+=(--platform "${p}_x86_64"); done
# The runtime dependencies at .venv's versions (no render extras: the benches render with the classical segmenter,
# whose OpenCV and numpy the device image has; pillow-heif is imported only for HEIC photos: left out for size).
.venv/bin/python - >"$b/pins.txt" <<'PY'
import importlib.metadata as md, tomllib
from packaging.requirements import Requirement
LEFT_OUT = {"pillow-heif", "numpy"}  # HEIC only; numpy is in the device's image
target = {"python_version": "3.12", "python_full_version": "3.12.3", "extra": ""}
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
deps.append("jsonschema")  # the emulators validate against the platforms' schemas (pytest and PyYAML are there)
seen, todo = {}, [Requirement(d) for d in deps]
while todo:
    req = todo.pop()
    key = req.name.lower().replace("_", "-").replace(".", "-")
    if key in LEFT_OUT or (req.marker and not req.marker.evaluate(target)):
        continue
    dist = md.distribution(req.name)
    if key not in seen:
        seen[key] = f"{dist.metadata['Name']}=={dist.version}"
        todo += [r for r in map(Requirement, dist.requires or []) if not (r.marker and not r.marker.evaluate(target))]
    for extra in req.extras:  # e.g. sqlalchemy[asyncio]'s greenlet, also when sqlalchemy was met before
        wanted = [r for r in map(Requirement, dist.requires or []) if r.marker and r.marker.evaluate({**target, "extra": extra})]
        todo += [Requirement(f"{r.name}{r.specifier}") for r in wanted]  # its marker named the extra: met
print("\n".join(sorted(seen.values())))
PY
python3 -m pip download -q --no-deps "${plat[@]}" -d "$b/whl" -r "$b/pins.txt"
python3 -m pip install -q --no-index --no-deps "${plat[@]}" --target "$b/site" "$b"/whl/*.whl
# Babel's data for the two locales the bot speaks (and root, which they inherit from) is all it reads.
find "$b/site/babel/locale-data" -name '*.dat' ! -name 'en*' ! -name 'bn*' ! -name 'root.dat' -delete
find "$b/site" -name __pycache__ -prune -exec rm -rf {} +
tar -C "$b/site" -cJf "$out/site312.tar.xz" .
# PostgreSQL 15 laid out under its own root: the server finds share/ and lib/ relative to its binary.
pgbin=$(pg_config --bindir)
mkdir -p "$b/pg$pgbin" "$b/pg$(pg_config --pkglibdir)" "$b/pg$(pg_config --sharedir)" "$b/pg/libs"
cp "$pgbin"/{postgres,initdb,pg_ctl} "$b/pg$pgbin/"
cp "$(pg_config --pkglibdir)"/{plpgsql,dict_snowball}.so "$b/pg$(pg_config --pkglibdir)/"
cp -a "$(pg_config --sharedir)"/. "$b/pg$(pg_config --sharedir)/"
ldd "$pgbin"/postgres "$pgbin"/initdb | awk '/=>/ {print $3}' | sort -u \
  | grep -v -E '/(libc|libm|libresolv|libstdc\+\+|libgcc_s|ld-linux)[.-]' | xargs -I{} cp -L {} "$b/pg/libs/"
tar -C "$b/pg" -cJf "$out/pg.tar.xz" .
mkdir -p "$b/redis/libs" && cp "$(command -v redis-server)" "$b/redis/"
ldd "$(command -v redis-server)" | awk '/=>/ {print $3}' \
  | grep -v -E '/(libc|libm|libresolv|libstdc\+\+|libgcc_s|ld-linux)[.-]' | xargs -I{} cp -L {} "$b/redis/libs/"
tar -C "$b/redis" -cJf "$out/redis.tar.xz" .
du -sh "$out"/*
