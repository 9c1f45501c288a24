#!/usr/bin/env sh
# Pin the image's dependencies with their hashes: the runtime ones from pyproject.toml (docker/requirements.lock)
# and the build backend that makes the wheel (docker/build.lock). Needs uv (`pip install uv`); run from anywhere.
set -eu
cd "$(dirname "$0")/.."
compile() { uv pip compile --quiet --generate-hashes --python-version 3.11 --python-platform linux --custom-compile-command "sh docker/lock.sh" "$@"; }
compile pyproject.toml -o docker/requirements.lock
python3 -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
  | compile - -o docker/build.lock
