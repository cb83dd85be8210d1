#!/usr/bin/env bash
# scripts/check_format.sh [FILE...] - are the C and C++ sources laid out as
# .clang-format says? Runs clang-format-14 --dry-run -Werror on each file
# (no FILE: the ones zf_format_files in lib.sh lists), prints the name of
# every file it would change, and exits 1 if there is any, 0 when all match.
# scripts/format.sh applies the layout. Nothing is written.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

zf_format_setup "$@"
files=("${ZF_FORMAT_FILES[@]}")

bad=0
for f in "${files[@]}"; do
	[[ -f $f ]] || zf_die "$f: no such file"
	if ! clang-format-14 --style="file:$ZUFUSE_ROOT/.clang-format" --dry-run -Werror "$f" >/dev/null 2>&1; then
		printf '%s\n' "$f"
		bad=$((bad + 1))
	fi
done
if ((bad > 0)); then
	printf '%d of %d files differ from .clang-format (scripts/format.sh FILE... fixes them)\n' \
		"$bad" "${#files[@]}" >&2
	exit 1
fi
zf_say "${#files[@]} files match .clang-format"
