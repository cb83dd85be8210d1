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
#include <string_view>

#include "server/server.h"

namespace {

void progress_bar(uint64_t done, uint64_t total)
{
	if (!total)
		return;
	int pct = static_cast<int>(done * 100 / total);
	int fill = pct / 2;
	std::fprintf(stderr, "\r[%.*s%*s] %3d%%", fill,
		     "##################################################",
		     50 - fill, "", pct);
	if (done >= total)
		std::fputc('\n', stderr);
	std::fflush(stderr);
}

const char kUsage[] =
	"usage: fsck.zufs [-n | -y | -p] [-f] [-v] IMAGE\n"
	"\n"
	"Check a zufuse image (not mounted): superblock and its copies, journal,\n"
	"orphan table, inode table, block trees, directories, link counts, the\n"
	"allocation bitmap, share counts and tier-2 blocks.\n"
	"\n"
	"  -n             check only, change nothing (the default)\n"
	"  -y, -p, -a     repair what can be repaired\n"
	"  -f             accepted: every check is a full one\n"
	"  -v             accepted: the summary is always printed\n"
	"  -V, --version  print the version and exit\n"
	"  -h, --help     print this help and exit\n"
	"\n"
	"exit: 0 clean, 1 errors corrected, 4 errors left uncorrected,\n"
	"      8 operational error (bad usage, cannot open, mounted)\n"
	"  (an image not cleanly unmounted: 4 with -n, 1 once -y recovered it)\n";

int usage_error(const std::string &line)
{
	std::fprintf(stderr, "fsck.zufs: %s (see --help)\n", line.c_str());
	return 8;
}

std::string pct(uint64_t part, uint64_t whole)
{
	char buf[32];
	std::snprintf(buf, sizeof(buf), "%.1f%%",
		      whole ? 100.0 * double(part) / double(whole) : 0.0);
	return buf;
}

} // namespace

int main(int argc, char **argv)
{
	std::string image;
	bool repair = false, readonly = false;
	for (int i = 1; i < argc; ++i) {
		std::string_view a = argv[i];
		if (a == "-y" || a == "-p" || a == "-a")
			repair = true;
		else if (a == "-n")
			readonly = true;
		else if (a == "-f" || a == "-v")
			; // always a full check, always the summary
		else if (a == "-h" || a == "--help")
			return std::fputs(kUsage, stdout), 0;
		else if (a == "-V" || a == "--version")
			return std::printf("fsck.zufs %s\n", ZUFUSE_VERSION), 0;
		else if (a.starts_with("-"))
			return usage_error("unknown option '" + std::string(a) +
					   "'");
		else if (!image.empty())
			return usage_error("unexpected argument '" +
					   std::string(a) + "'");
		else
			image = a;
	}
	if (image.empty())
		return usage_error("missing IMAGE");
	if (repair && readonly)
		return usage_error("-n and -y together");
	struct stat st;
	void (*progress)(uint64_t, uint64_t) = nullptr;
	if (isatty(STDERR_FILENO) && stat(image.c_str(), &st) == 0 &&
	    static_cast<uint64_t>(st.st_size) > (1ULL << 30))
		progress = progress_bar;
	std::string report;
	zus::FsckSummary sum;
	int rc = zus::fsck_image(image, repair, progress, &report, &sum);
	if (rc == 8) {
		std::fprintf(stderr, "fsck.zufs: %s", report.c_str());
		return rc;
	}
	std::fputs(report.c_str(), stdout);
	if (sum.checked)
		std::printf(
			"%s: checked superblock, journal, orphan table, %llu/%llu inodes "
			"(%llu files, %llu directories), block trees, link counts, bitmap; "
			"%llu/%llu blocks in use on T1 (%s), %llu/%llu on T2\n",
			image.c_str(), (unsigned long long)sum.inodes_used,
			(unsigned long long)sum.inodes,
			(unsigned long long)sum.files,
			(unsigned long long)sum.dirs,
			(unsigned long long)sum.t1_used,
			(unsigned long long)sum.t1_blocks,
			pct(sum.t1_used, sum.t1_blocks).c_str(),
			(unsigned long long)sum.t2_used,
			(unsigned long long)sum.t2_blocks);
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
