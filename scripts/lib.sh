# shellcheck shell=bash
# scripts/lib.sh - shared steps of run.sh and test.sh: install what is missing
# (Debian 12, as root), then configure and build into build/; and the start
# of check_format.sh and format.sh.
# Source it; do not run it. Every function exits the script on failure.

ZUFUSE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ZUFUSE_BUILD=${ZUFUSE_BUILD:-$ZUFUSE_ROOT/build}

# What the build, the tests and the benchmarks need. clang-14 and
# libclang-rt-14-dev make the sanitized build (ASan, UBSan, libFuzzer) that
# test.sh runs (build/sanitize: the unit tests and test/fuzz's targets).
# libblkid-dev: mkfs.zufs and zufuse --mkfs refuse to format over a file
# system or partition table it recognises; e2fsprogs: the tests make ext4
# images to see them refused. bench/compare.sh reads fio's JSON with python3
# and draws its chart with gnuplot (gnuplot-nox: no X11). clang-format-14:
# scripts/check_format.sh and format.sh (.clang-format).
ZUFUSE_PACKAGES=(libfuse3-dev fuse3 libpmem-dev libboost1.81-dev liburing-dev
	catch2 meson ninja-build pkg-config g++ fio clang-14
	libclang-rt-14-dev python3 libblkid-dev e2fsprogs gnuplot-nox uuid-dev
	clang-format-14)

zf_say() { printf '==> %s\n' "$*"; }
zf_die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# zf_install_packages: apt-get install whatever dpkg does not report as
# installed; runs apt-get update once, and only when something is missing.
zf_install_packages() {
	local missing=() p st
	for p in "${ZUFUSE_PACKAGES[@]}"; do
		st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
		[[ $st == "install ok installed" ]] || missing+=("$p")
	done
	((${#missing[@]} == 0)) && return 0
	[[ $(id -u) == 0 ]] || zf_die "missing packages: ${missing[*]} (run as root, or apt-get install them)"
	command -v apt-get >/dev/null || zf_die "missing packages: ${missing[*]} and no apt-get (Debian 12 expected)"
	zf_say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q || zf_die "apt-get update failed"
	apt-get install -y -q --no-install-recommends "${missing[@]}" ||
		zf_die "apt-get install failed"
}

# zf_build [TARGET...]: meson setup on the first run, then ninja (which
# re-runs meson by itself when a meson.build changed); no TARGET: everything.
# A build dir made by another meson version, which ninja cannot use, is
# reconfigured (or wiped) first; a failed build is reported once.
zf_build() {
	cd "$ZUFUSE_ROOT" || zf_die "cannot cd to $ZUFUSE_ROOT"
	if [[ ! -f $ZUFUSE_BUILD/build.ninja ]]; then
		meson setup "$ZUFUSE_BUILD" || zf_die "meson setup $ZUFUSE_BUILD failed"
	elif ! zf_made_by_this_meson "$ZUFUSE_BUILD"; then
		zf_say "$ZUFUSE_BUILD was made by another meson; reconfiguring it"
		{ meson setup --reconfigure "$ZUFUSE_BUILD" ||
			meson setup --wipe "$ZUFUSE_BUILD"; } ||
			zf_die "meson setup $ZUFUSE_BUILD failed"
	fi
	zf_say "building in $ZUFUSE_BUILD"
	ninja -C "$ZUFUSE_BUILD" "$@" || zf_die "build failed"
	[[ -x $ZUFUSE_BUILD/zufuse ]] || zf_die "$ZUFUSE_BUILD/zufuse was not built"
}

# zf_made_by_this_meson DIR: the meson on PATH configured build dir DIR.
zf_made_by_this_meson() {
	local made
	made=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["meson_version"]["full"])' \
		"$1/meson-info/meson-info.json" 2>/dev/null) || return 1
	[[ $made == "$(meson --version)" ]]
}

# zf_setup_sanitize: the sanitized build dir $ZUFUSE_SANITIZE_BUILD (clang-14,
# ASan + UBSan; the libFuzzer targets are built there too), set up on the
# first run, through ccache when it is installed. `meson test -C DIR --setup
# sanitize` builds and runs its unit and fuzz suites; `ninja -C DIR TARGET`
# builds one target.
ZUFUSE_SANITIZE_BUILD=${ZUFUSE_SANITIZE_BUILD:-$ZUFUSE_BUILD/sanitize}
zf_setup_sanitize() {
	cd "$ZUFUSE_ROOT" || zf_die "cannot cd to $ZUFUSE_ROOT"
	command -v clang++-14 >/dev/null ||
		zf_die "clang++-14 not found (apt-get install clang-14 libclang-rt-14-dev)"
	[[ -f $ZUFUSE_SANITIZE_BUILD/build.ninja ]] && return 0
	local cc=
	command -v ccache >/dev/null && cc='ccache '
	CC="${cc}clang-14" CXX="${cc}clang++-14" meson setup \
		-Db_sanitize=address,undefined -Db_lundef=false \
		"$ZUFUSE_SANITIZE_BUILD" ||
		zf_die "meson setup $ZUFUSE_SANITIZE_BUILD failed"
}

# zf_check_fuse: /dev/fuse and fusermount3 must be usable.
zf_check_fuse() {
	[[ -c /dev/fuse ]] || modprobe fuse 2>/dev/null || true
	[[ -c /dev/fuse ]] || zf_die "/dev/fuse is missing (modprobe fuse; in a container: --device /dev/fuse --cap-add SYS_ADMIN)"
	command -v fusermount3 >/dev/null || zf_die "fusermount3 not found (apt-get install fuse3)"
}

# zf_format_files: the C and C++ sources .clang-format lays out
# (check_format.sh, format.sh), one per line, relative to the root: what git
# tracks or would track, else every file. Left alone: include/zus/ and
# include/zufs/zus_api.h (the seed's SDK and ABI headers in the seed's own
# layout, kept line by line comparable with zus/zuf), src/views/ (links to
# the folders themselves: each file is formatted once, where it lives).
zf_format_files() {
	local skip='^(include/zus/|include/zufs/zus_api\.h$|src/views/)'
	if git -C "$ZUFUSE_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
		git -C "$ZUFUSE_ROOT" ls-files --cached --others --exclude-standard \
			-- '*.c' '*.cc' '*.h' | grep -Ev "$skip" | sort -u
	else
		(cd "$ZUFUSE_ROOT" && find . -path ./build -prune -o -type f \
			\( -name '*.c' -o -name '*.cc' -o -name '*.h' \) -print |
			sed 's|^\./||' | grep -Ev "$skip" | sort)
	fi
}

# zf_format_setup [FILE...]: the start check_format.sh and format.sh share:
# clang-format-14 must be installed; cd to the root; ZF_FORMAT_FILES: the
# FILEs, or with none the list zf_format_files prints (an empty one: error).
zf_format_setup() {
	command -v clang-format-14 >/dev/null ||
		zf_die "clang-format-14 not found (apt-get install clang-format-14)"
	cd "$ZUFUSE_ROOT" || zf_die "cannot cd to $ZUFUSE_ROOT"
	ZF_FORMAT_FILES=("$@")
	((${#ZF_FORMAT_FILES[@]} > 0)) ||
		mapfile -t ZF_FORMAT_FILES < <(zf_format_files)
	((${#ZF_FORMAT_FILES[@]} > 0)) || zf_die "no C or C++ sources found"
}
