#!/usr/bin/env bash
# scripts/format.sh [FILE...] - lay the C and C++ sources out as
# .clang-format says, in place, with clang-format-14 (no FILE: the ones
# zf_format_files in lib.sh lists). scripts/check_format.sh checks the same
# files without writing.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

zf_format_setup "$@"
files=("${ZF_FORMAT_FILES[@]}")
clang-format-14 --style="file:$ZUFUSE_ROOT/.clang-format" -i "${files[@]}"
zf_say "formatted ${#files[@]} files"
