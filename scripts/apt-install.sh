#!/usr/bin/env bash
# Install Debian packages the tests need, each only if its command is missing (the command and the
# package share a name: chromium, nginx). As root, with apt-get; a service a package ships is not
# started (nginx's would otherwise serve a default site on port 80 of every interface).
set -euo pipefail
missing=()
for name in "$@"; do
  command -v "$name" >/dev/null 2>&1 || [ -x "/usr/sbin/$name" ] || missing+=("$name")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-install: cannot install ${missing[*]}: needs root and apt-get" >&2
  exit 1
fi
echo "apt-install: installing Debian's ${missing[*]}" >&2
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
