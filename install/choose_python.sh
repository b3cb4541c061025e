#!/usr/bin/env bash
# Print the path of a Python that can run the homework (install/check_python.py accepts it).
# As root, only one that unprivileged users can run counts (the grader runs student code as
# one of them; a pyenv under /root is out of their reach). When the system has none
# (Gradescope's default image, Ubuntu 22.04, has 3.10), install one from the distribution's
# own archive with apt-get, unless --no-install. Exit 1 with one line when none can be had,
# so that a broken autograder image is never built silently.
set -u
cd "${BASH_SOURCE[0]%/*}/.." || exit 1

supported() {
  local candidate folder folders
  IFS=: read -ra folders <<< "$PATH"
  for candidate in python3 python3.13 python3.12 python3.11; do
    for folder in "${folders[@]}"; do  # every one on PATH: the first may be a pyenv shim under /root
      [ -x "$folder/$candidate" ] || continue
      if "$folder/$candidate" install/check_python.py --shared 2>/dev/null; then
        echo "$folder/$candidate"
        return 0
      fi
    done
  done
  return 1
}

supported && exit 0
[ "${1:-}" = --no-install ] && exit 1
if command -v apt-get >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null 2>&1
  for version in 3.11 3.12 3.13; do
    apt-get install -y -qq "python$version" "python$version-venv" >/dev/null 2>&1 && break
  done
  supported && exit 0
fi
echo "No supported Python (3.11, 3.12, 3.13) is installed, and apt-get could not install one: the autograder image cannot be built." >&2
exit 1
