#!/usr/bin/env bash
# scripts/format.sh [FILE...] - lay the C and C++ sources out as
# .clang-format says, in place, with clang-format-14 (no FILE: the ones
# zf_format_files in lib.sh lists). scripts/check_format.sh checks the same
# files without writing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

command -v clang-format-14 >/dev/null ||
	zf_die "clang-format-14 not found (apt-get install clang-format-14)"
cd "$ZUFUSE_ROOT" || zf_die "cannot cd to $ZUFUSE_ROOT"
files=("$@")
((${#files[@]} > 0)) || mapfile -t files < <(zf_format_files)
((${#files[@]} > 0)) || zf_die "no sources to format"
clang-format-14 --style="file:$ZUFUSE_ROOT/.clang-format" -i "${files[@]}"
zf_say "formatted ${#files[@]} files"
