// SPDX-License-Identifier: BSD-3-Clause
//
// fsck.zufs IMAGE [-n] [-y] - check (and with -y repair) a zufuse image:
// superblock, journal, inode table, directory tree, link counts, block
// allocation. Exit codes as e2fsck: 0 clean, 1 errors corrected, 4 errors
// left uncorrected, 8 operational error (bad usage, cannot open, mounted).
// An image not cleanly unmounted (zufuse killed, a crash) needs recovery:
// -n reports it and exits 4 even if nothing else is wrong (as e2fsck -n
// with a journal to replay); -y recovers it (a mount) and exits 1.
// On a terminal, images larger than 1 GiB get a progress bar on stderr.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "server/server.h"

namespace {

void progress_bar(uint64_t done, uint64_t total)
{
	if (!total)
		return;
	int pct = static_cast<int>(done * 100 / total);
	int fill = pct / 2;
	std::fprintf(stderr, "\r[%.*s%*s] %3d%%", fill,
		     "##################################################", 50 - fill, "", pct);
	if (done >= total)
		std::fputc('\n', stderr);
	std::fflush(stderr);
}

int usage()
{
	std::fprintf(stderr, "usage: fsck.zufs IMAGE [-n] [-y]\n"
			     "  -n  check only, change nothing (the default)\n"
			     "  -y  repair what can be repaired\n"
			     "exit: 0 clean, 1 corrected, 4 uncorrected, 8 operational error\n"
			     "  (an image not cleanly unmounted: 4 with -n, 1 once -y recovered it)\n");
	return 8;
}

} // namespace

int main(int argc, char **argv)
{
	std::string image;
	bool repair = false, readonly = false;
	for (int i = 1; i < argc; ++i) {
		const char *a = argv[i];
		if (!std::strcmp(a, "-y") || !std::strcmp(a, "-p") || !std::strcmp(a, "-a"))
			repair = true;
		else if (!std::strcmp(a, "-n"))
			readonly = true;
		else if (!std::strcmp(a, "-f"))
			; // always a full check
		else if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help"))
			return usage(), 0;
		else if (a[0] == '-' || !image.empty())
			return usage();
		else
			image = a;
	}
	if (image.empty() || (repair && readonly))
		return usage();
	struct stat st;
	void (*progress)(uint64_t, uint64_t) = nullptr;
	if (isatty(STDERR_FILENO) && stat(image.c_str(), &st) == 0 &&
	    static_cast<uint64_t>(st.st_size) > (1ULL << 30))
		progress = progress_bar;
	std::string report;
	int rc = zus::fsck_image(image, repair, progress, &report);
	if (rc == 8) {
		std::fprintf(stderr, "fsck.zufs: %s", report.c_str());
		return rc;
	}
	std::fputs(report.c_str(), stdout);
	switch (rc) {
	case 0:
		std::printf("%s: clean\n", image.c_str());
		break;
	case 1:
		std::printf("%s: errors corrected\n", image.c_str());
		break;
	default:
		std::printf("%s: errors left uncorrected%s\n", image.c_str(),
			    repair ? "" : " (run fsck.zufs -y to repair)");
		break;
	}
	return rc;
}
