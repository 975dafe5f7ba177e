#!/usr/bin/env bash
# Installs the Debian packages named as arguments unless all are already
# installed, in which case it returns at once (one dpkg-query, no apt).
# usage: scripts/deps.sh package...
set -euo pipefail

# One dpkg-query for all: it prints a line for each known package and
# complains on stderr about unknown ones.
declare -A installed=()
while read -r pkg status; do
	if [[ "$status" == installed ]]; then
		installed[$pkg]=1
	fi
done < <(dpkg-query -W -f='${Package} ${db:Status-Status}\n' "$@" 2>/dev/null || true)
missing=()
for pkg in "$@"; do
	if [[ -z "${installed[$pkg]:-}" ]]; then
		missing+=("$pkg")
	fi
done
if ((${#missing[@]} == 0)); then
	echo "deps: all installed ($*)"
	exit 0
fi

sudo=()
if ((EUID != 0)); then
	sudo=(sudo)
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update
"${sudo[@]}" apt-get install -y "${missing[@]}"
