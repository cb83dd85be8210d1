// SPDX-License-Identifier: BSD-3-Clause
//
// unwritten_test.cc - SEEK_DATA/SEEK_HOLE over fallocated ranges (issue
// 17), through a real mount, compared with ext4 on a loop device: a block
// fallocate allocated and nothing wrote is a hole for SEEK_DATA/SEEK_HOLE
// (ext4's unwritten extents, pmfs's unwritten leaves, bmap.h), the first
// write makes it data; fallocate past EOF (KEEP_SIZE), punch and
// ZERO_RANGE over written and unwritten blocks, truncation, fsync; kept
// across a remount, fsck clean. copy_file_range shares unwritten blocks
// unwritten (as a reflink on XFS; ext4 copies, so it is not compared).
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "fs_helpers.h"
#include "integration.h"

namespace {

constexpr off_t kB = 4096;

// Blocks [0, n) of fd as SEEK_DATA sees them: 'D' where SEEK_DATA from the
// block's start lands on it, '.' elsewhere; then the size, and where
// SEEK_HOLE lands from the middle of every block (block:offset, only where
// it is not that offset itself).
std::string seek_map(int fd, int n)
{
	struct stat st;
	fstat(fd, &st);
	std::string m;
	for (int b = 0; b < n; ++b)
		m += lseek(fd, b * kB, SEEK_DATA) == b * kB ? 'D' : '.';
	m += " size=" + std::to_string(st.st_size) + " holes:";
	for (int b = 0; b < n; ++b) {
		off_t at = b * kB + 100;
		off_t h = lseek(fd, at, SEEK_HOLE);
		if (h != at)
			m += " " + std::to_string(b) + ":" +
			     (h < 0 ? std::string(strerrorname_np(errno)) :
				      std::to_string(h));
	}
	return m;
}

// The steps, one "name map" line each; the same on ext4 and zufuse.
std::string seek_script(const std::string &root)
{
	std::string out;
	int fd = open((root + "/f").c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0)
		return "open: " + std::string(strerrorname_np(errno));
	auto step = [&](const char *name, int rc, int n = 24) {
		out += std::string(name) +
		       (rc < 0 ? std::string(" ") + strerrorname_np(errno) :
				 "") +
		       ": " + seek_map(fd, n) + "\n";
	};
	std::string w(6000, 'w');
	step("fallocate 0..16", fallocate(fd, 0, 0, 16 * kB));
	step("write 5+100 6000", int(pwrite(fd, w.data(), 6000, 5 * kB + 100)));
	step("keep_size 16..24",
	     fallocate(fd, FALLOC_FL_KEEP_SIZE, 16 * kB, 8 * kB));
	step("write past EOF 20", int(pwrite(fd, "tail", 4, 20 * kB)));
	step("zero_range 5+50 4096",
	     fallocate(fd, FALLOC_FL_ZERO_RANGE, 5 * kB + 50, kB));
	step("zero_range block 5",
	     fallocate(fd, FALLOC_FL_ZERO_RANGE, 5 * kB, kB));
	step("write block 12", int(pwrite(fd, w.data(), kB, 12 * kB)));
	step("punch in block 12",
	     fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		       12 * kB + 100, 100));
	step("punch blocks 12-13",
	     fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 12 * kB,
		       2 * kB));
	step("punch unwritten 9-10",
	     fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 9 * kB,
		       2 * kB));
	step("truncate 32", ftruncate(fd, 32 * kB), 32);
	step("fallocate 0..32", fallocate(fd, 0, 0, 32 * kB), 32);
	step("write 30..31", int(pwrite(fd, w.data(), kB + 1, 30 * kB)), 32);
	step("fsync", fsync(fd), 32);
	step("truncate 14+7", ftruncate(fd, 14 * kB + 7), 16);
	close(fd);
	return out;
}

// What ext4 (4 KiB blocks, Linux 6.18) answers, so that the test checks
// zufuse even where no ext4 can be mounted. (ext4 answers from its page
// cache too: after a read of unwritten blocks it reports them as data
// while the pages stay cached; the script reads nothing.)
const char *const kExt4 =
	"fallocate 0..16: ........................ size=65536 holes: 16:ENXIO 17:ENXIO 18:ENXIO "
	"19:ENXIO 20:ENXIO 21:ENXIO 22:ENXIO 23:ENXIO\n"
	"write 5+100 6000: .....DD................. size=65536 holes: 5:28672 6:28672 16:ENXIO "
	"17:ENXIO 18:ENXIO 19:ENXIO 20:ENXIO 21:ENXIO 22:ENXIO 23:ENXIO\n"
	"keep_size 16..24: .....DD................. size=65536 holes: 5:28672 6:28672 16:ENXIO "
	"17:ENXIO 18:ENXIO 19:ENXIO 20:ENXIO 21:ENXIO 22:ENXIO 23:ENXIO\n"
	"write past EOF 20: .....DD.............D... size=81924 holes: 5:28672 6:28672 20:ENXIO "
	"21:ENXIO 22:ENXIO 23:ENXIO\n"
	"zero_range 5+50 4096: .....DD.............D... size=81924 holes: 5:28672 6:28672 "
	"20:ENXIO 21:ENXIO 22:ENXIO 23:ENXIO\n"
	"zero_range block 5: ......D.............D... size=81924 holes: 6:28672 20:ENXIO "
	"21:ENXIO 22:ENXIO 23:ENXIO\n"
	"write block 12: ......D.....D.......D... size=81924 holes: 6:28672 12:53248 20:ENXIO "
	"21:ENXIO 22:ENXIO 23:ENXIO\n"
	"punch in block 12: ......D.....D.......D... size=81924 holes: 6:28672 12:53248 "
	"20:ENXIO 21:ENXIO 22:ENXIO 23:ENXIO\n"
	"punch blocks 12-13: ......D.............D... size=81924 holes: 6:28672 20:ENXIO "
	"21:ENXIO 22:ENXIO 23:ENXIO\n"
	"punch unwritten 9-10: ......D.............D... size=81924 holes: 6:28672 20:ENXIO "
	"21:ENXIO 22:ENXIO 23:ENXIO\n"
	"truncate 32: ......D.............D........... size=131072 holes: 6:28672 20:86016\n"
	"fallocate 0..32: ......D.............D........... size=131072 holes: 6:28672 "
	"20:86016\n"
	"write 30..31: ......D.............D.........DD size=131072 holes: 6:28672 20:86016 "
	"30:131072 31:131072\n"
	"fsync: ......D.............D.........DD size=131072 holes: 6:28672 20:86016 "
	"30:131072 31:131072\n"
	"truncate 14+7: ......D......... size=57351 holes: 6:28672 14:ENXIO 15:ENXIO\n";

} // namespace

TEST_CASE(
	"SEEK_DATA/SEEK_HOLE: fallocated blocks are holes until written, as on ext4",
	"[integration][semantics]")
{
	zit::Mount m("64M");
	REQUIRE_MOUNT(m);
	const std::string got = seek_script(m.mnt());
	CHECK(got == kExt4);
	zit::Ext4 ext4(m.scratch(), { "-b", "4096" });
	if (ext4.mounted())
		CHECK(got == seek_script(ext4.mnt()));
	else
		WARN("no ext4 to compare with: " << ext4.why());

	// Kept across a remount; fsck knows unwritten leaves.
	int fd = open(m.path("f").c_str(), O_RDONLY);
	REQUIRE(fd >= 0);
	const std::string before = seek_map(fd, 16);
	close(fd);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
	REQUIRE_MOUNT(m);
	fd = open(m.path("f").c_str(), O_RDWR);
	REQUIRE(fd >= 0);
	CHECK(seek_map(fd, 16) == before);

	// Reads of unwritten blocks are zeros; copy_file_range shares them
	// unwritten; a write into the copy makes only the copy's block data.
	std::string all(14 * kB + 7, 'x');
	REQUIRE(pread(fd, all.data(), all.size(), 0) == ssize_t(all.size()));
	CHECK(all.substr(0, 5 * kB) == std::string(5 * kB, '\0'));
	int out = open(m.path("g").c_str(), O_CREAT | O_RDWR, 0644);
	REQUIRE(out >= 0);
	loff_t in_off = 0, out_off = 0;
	REQUIRE(copy_file_range(fd, &in_off, out, &out_off, 8 * kB, 0) ==
		8 * kB);
	CHECK(seek_map(out, 8).substr(0, 8) == seek_map(fd, 8).substr(0, 8));
	REQUIRE(pwrite(out, "g", 1, 2 * kB) == 1);
	CHECK(lseek(out, 0, SEEK_DATA) == 2 * kB);
	CHECK(lseek(fd, 2 * kB, SEEK_DATA) != 2 * kB);
	std::string copied(8 * kB, 'x');
	REQUIRE(pread(out, copied.data(), copied.size(), 0) == 8 * kB);
	std::string want = all.substr(0, 8 * kB);
	want[2 * kB] = 'g';
	CHECK(copied == want);
	close(out);
	close(fd);
	REQUIRE_UNMOUNT(m);
	CHECK_FSCK_CLEAN(m);
}
