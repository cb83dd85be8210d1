// SPDX-License-Identifier: BSD-3-Clause
//
// toyfs.h - toyfs, the reference zus plugin (NetApp zufs-zus fs/toyfs at
// efda388), built from its unmodified sources in $TOYFS_SRC the way issue
// 12's independent check builds it: `cc -std=gnu11 -shared -fPIC -I
// include/zus *.c -L build -lzus -luuid` (mkfs.c included: its symbols are
// static), and its mkfs likewise. The SDK and libzus come from
// $ZUS_INCLUDE and $LIBZUS_DIR (meson passes them). Nothing of toyfs is in
// this tree: without $TOYFS_SRC the tests that use it exit 77 (SKIP).
#ifndef ZUFUSE_TEST_INTEGRATION_TOYFS_H
#define ZUFUSE_TEST_INTEGRATION_TOYFS_H

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "mount_fixture.h"

namespace zit {

// $TOYFS_SRC when it holds toyfs's sources; else a line on stderr and
// exit 77 (meson's SKIP).
inline std::string toyfs_src_or_skip()
{
	const char *src = getenv("TOYFS_SRC");
	if (!src || !*src ||
	    access((std::string(src) + "/toyfs.h").c_str(), R_OK)) {
		std::fprintf(stderr, "SKIP: TOYFS_SRC (zufs-zus fs/toyfs at "
				     "efda388, unmodified) is unset or has no "
				     "toyfs.h\n");
		std::exit(77);
	}
	return src;
}

inline std::string sh_quote(const std::string &s)
{
	std::string q = "'";
	for (char c : s)
		q += c == '\'' ? std::string("'\\''") : std::string(1, c);
	return q + "'";
}

// Builds dir/libtoyfs.so and dir/mkfs.toyfs from src with the issue's
// command lines, plus -Wall (err: the compiler's warnings; none at
// efda388).
inline RunResult build_toyfs(const std::string &src, const std::string &dir)
{
	const char *inc = getenv("ZUS_INCLUDE"), *lib = getenv("LIBZUS_DIR");
	if (!inc || !lib)
		return { 1, "",
			 "ZUS_INCLUDE/LIBZUS_DIR unset (run it from meson)" };
	const std::string I = sh_quote(inc), L = sh_quote(lib);
	return run_cmd({ "sh", "-c",
			 "cd " + sh_quote(src) +
				 " && cc -std=gnu11 -Wall -shared "
				 "-fPIC -I " +
				 I + " *.c -L " + L + " -lzus -luuid -o " +
				 sh_quote(dir + "/libtoyfs.so") +
				 " && cc -std=gnu11 "
				 "-Wall -I " +
				 I + " mkfs.c -L " + L +
				 " -lzus -luuid "
				 "-o " +
				 sh_quote(dir + "/mkfs.toyfs") },
		       dir, 120);
}

// image (created, size bytes) formatted by dir/mkfs.toyfs.
inline RunResult mkfs_toyfs(const std::string &dir, const std::string &image,
			    uint64_t size)
{
	const char *lib = getenv("LIBZUS_DIR");
	return run_cmd(
		{ "sh", "-c",
		  "rm -f " + sh_quote(image) + " && truncate -s " +
			  std::to_string(size) + " " + sh_quote(image) +
			  " && LD_LIBRARY_PATH=" + sh_quote(lib ? lib : "") +
			  " " + sh_quote(dir + "/mkfs.toyfs") +
			  " 1b4e28ba-2fa1-11d2-883f-0016d3cca427 " +
			  sh_quote(image) },
		dir);
}

} // namespace zit

#endif // ZUFUSE_TEST_INTEGRATION_TOYFS_H
