# Sourced by the scripts: how they print. Colour only on a terminal, and never when NO_COLOR is set
# (https://no-color.org), so output captured in files and CI logs has no escape codes.
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
  step() { printf '\n==> %s\n' "$*"; }
fi
