// SPDX-License-Identifier: BSD-3-Clause
//
// mkfs.zufs IMAGE [--size=SIZE] [--force] - format a zufuse image with the
// same code as `zufuse --mkfs` (zus::format_image). A missing IMAGE is
// created with SIZE bytes; an image that already holds a file system is
// refused unless --force; a mounted (locked) image is always refused.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "server/server.h"

namespace {

int usage(FILE *f)
{
	std::fprintf(f, "usage: mkfs.zufs IMAGE [--size=SIZE] [--force]\n"
			"  --size=SIZE  create IMAGE with SIZE bytes (K, M, G, T suffixes; "
			"minimum 16M) or grow it\n"
			"  --force      format even if IMAGE already holds a file system\n");
	return f == stderr ? 8 : 0;
}

bool parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	if (*s == '-' || !*s)
		return false;
	unsigned long long v = std::strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	int shift = 0;
	switch (*end) {
	case 'K': case 'k': shift = 10; ++end; break;
	case 'M': case 'm': shift = 20; ++end; break;
	case 'G': case 'g': shift = 30; ++end; break;
	case 'T': case 't': shift = 40; ++end; break;
	default: break;
	}
	if (*end || (shift && v > (~0ULL >> shift)))
		return false;
	*out = v << shift;
	return true;
}

} // namespace

int main(int argc, char **argv)
{
	std::string image;
	uint64_t size = 0;
	bool force = false;
	for (int i = 1; i < argc; ++i) {
		const char *a = argv[i];
		if (!std::strcmp(a, "--force") || !std::strcmp(a, "-f")) {
			force = true;
		} else if (!std::strncmp(a, "--size=", 7)) {
			if (!parse_size(a + 7, &size)) {
				std::fprintf(stderr, "mkfs.zufs: bad size '%s'\n", a + 7);
				return 8;
			}
		} else if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help")) {
			return usage(stdout);
		} else if (a[0] == '-' || !image.empty()) {
			std::fprintf(stderr, "mkfs.zufs: unexpected argument '%s'\n", a);
			return usage(stderr);
		} else {
			image = a;
		}
	}
	if (image.empty())
		return usage(stderr);
	std::string err;
	int e = zus::format_image(image, size, force, &err);
	if (e) {
		std::fprintf(stderr, "mkfs.zufs: %s\n", err.c_str());
		return 1;
	}
	std::printf("mkfs.zufs: formatted %s\n", image.c_str());
	return 0;
}
