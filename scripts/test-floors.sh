#!/usr/bin/env bash
# Installs the OLDEST versions that pyproject.toml allows for every runtime dependency (each `>=X` pinned to
# `==X`) into a throw-away virtualenv, then runs the fast tests there. A floor that cannot run fails here,
# not on an operator's machine. Developer tools keep their current versions (they do not ship).
#   bash scripts/test-floors.sh            (VENV=/tmp/nexoraz-floors by default; TORCH_INDEX as in the Makefile)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-/tmp/nexoraz-floors}
PYTHON=${PYTHON:-python3}
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
pins=$("$VENV/bin/python" - <<'PY'
import re, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
for spec in project["dependencies"] + project["optional-dependencies"]["render"]:
    name, floor = re.match(r"^([A-Za-z0-9_.\[\]-]+)\s*(?:==|>=)\s*([0-9][^,;\s]*)", spec).groups()
    print(f"{name}=={floor}")
PY
)
echo "floors:"; echo "$pins" | sed 's/^/  /'
constraints="$VENV/floors.txt"
echo "$pins" | sed 's/\[[^]]*\]//' > "$constraints"
index=${TORCH_INDEX:+--extra-index-url $TORCH_INDEX}
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet $index -c "$constraints" -e '.[render,dev]'
"$VENV/bin/python" -m pip list --format=freeze | grep -iE "^($(echo "$pins" | sed 's/\[[^]]*\]//; s/==.*//' | paste -sd'|'))==" || true
"$VENV/bin/python" -m pytest -q -m "not slow and not browser" -p no:cacheprovider "$@"
