// SPDX-License-Identifier: BSD-3-Clause
//
// mkfs.zufs - format a zufuse image with the same code as `zufuse --mkfs`
// (zus::format_image), with mke2fs's manners: an image that holds a file
// system (zufuse's or any libblkid recognises) or a partition table is
// refused unless -F; nothing is created or changed before a refusal; -n
// says what would be done. A mounted (locked) image is always refused.
// Exit: 0 formatted (or -n), 1 refused or failed, 8 bad usage.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "kernel_shim/mount_options.h"
#include "server/server.h"

namespace {

const char kUsage[] =
	"usage: mkfs.zufs [-F] [-n] [-q] [--size=SIZE] IMAGE [SIZE]\n"
	"\n"
	"Format IMAGE (a file, created if missing, or a device) as a zufuse\n"
	"file system.\n"
	"\n"
	"  -s, --size=SIZE  the image's size: create it with SIZE bytes, or grow\n"
	"                   it (with -F: also shrink it); K, M, G, T suffixes\n"
	"                   (1024-based), minimum 16M. Default: IMAGE's size\n"
	"  -F, --force      format even over a file system or a partition table\n"
	"  -n, --dry-run    say what would be done; change nothing\n"
	"  -q, --quiet      print nothing but errors\n"
	"  -V, --version    print the version and exit\n"
	"  -h, --help       print this help and exit\n"
	"\n"
	"exit: 0 formatted (or -n), 1 refused or failed, 8 bad usage\n";

int usage_error(const std::string &line)
{
	std::fprintf(stderr, "mkfs.zufs: %s (see --help)\n", line.c_str());
	return 8;
}

} // namespace

int main(int argc, char **argv)
{
	std::string image, size_text;
	zus::FormatRequest req;
	bool quiet = false;
	for (int i = 1; i < argc; ++i) {
		std::string_view a = argv[i];
		if (a == "-F" || a == "--force" || a == "-f") {
			req.force = true;
		} else if (a == "-n" || a == "--dry-run") {
			req.dry_run = true;
		} else if (a == "-q" || a == "--quiet") {
			quiet = true;
		} else if (a.starts_with("--size=")) {
			size_text = a.substr(7);
		} else if (a == "--size" || a == "-s") {
			if (i + 1 >= argc)
				return usage_error("option '" + std::string(a) +
						   "' needs a value");
			size_text = argv[++i];
		} else if (a == "-h" || a == "--help") {
			std::fputs(kUsage, stdout);
			return 0;
		} else if (a == "-V" || a == "--version") {
			std::printf("mkfs.zufs %s\n", ZUFUSE_VERSION);
			return 0;
		} else if (a.starts_with("-") && a != "-") {
			return usage_error("unknown option '" + std::string(a) +
					   "'");
		} else if (image.empty()) {
			image = a;
		} else if (size_text.empty()) {
			size_text = a; // mke2fs's DEVICE [FS-SIZE]
		} else {
			return usage_error("unexpected argument '" +
					   std::string(a) + "'");
		}
	}
	if (image.empty())
		return usage_error("missing IMAGE");
	if (!size_text.empty() && !zuf::parse_size(size_text, &req.size))
		return usage_error(
			"bad size '" + size_text +
			"' (a number with an optional K, M, G or T suffix, e.g. 512M)");

	std::string err, said;
	if (zus::format_image(image, req, &err, &said)) {
		std::fprintf(stderr, "mkfs.zufs: %s\n", err.c_str());
		return 1;
	}
	if (!quiet || req.dry_run)
		std::printf("mkfs.zufs: %s\n", said.c_str());
	return 0;
}
