// SPDX-License-Identifier: BSD-3-Clause
// Superblock and image validation: every refusal answers one clear line.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "harness.h"
#include "server/pmfs/layout.h"

using namespace ztest;
using zus::pmfs::pmfs_super;

namespace {

pmfs_super read_super(const std::string &path)
{
	pmfs_super s{};
	int fd = open(path.c_str(), O_RDONLY);
	REQUIRE(pread(fd, &s, sizeof(s), 0) == sizeof(s));
	close(fd);
	return s;
}

void poke(const std::string &path, off_t off, const void *p, size_t n)
{
	int fd = open(path.c_str(), O_RDWR);
	REQUIRE(pwrite(fd, p, n, off) == ssize_t(n));
	close(fd);
}

} // namespace

TEST_CASE("an unformatted image is refused without mkfs", "[server][super]")
{
	Fs fs;
	CHECK(fs.mount("") == -EINVAL);
	CHECK(fs.errmsg ==
	      "image " + fs.path +
		      ": bad magic, not a zufuse image (use --mkfs to format)");
	REQUIRE(fs.mount("mkfs") == 0);
	REQUIRE(fs.umount() == 0);
	CHECK(fs.mount("mkfs") == -EEXIST);
	CHECK(fs.errmsg ==
	      "image " + fs.path +
		      ": already formatted; refusing --mkfs (use mkfs.zufs --force)");
	CHECK(fs.mount("") == 0);
}

TEST_CASE("a corrupt superblock is refused", "[server][super]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	REQUIRE(fs.umount() == 0);
	pmfs_super s = read_super(fs.path);
	uint64_t bad = s.s_nblocks ^ 1;
	poke(fs.path, offsetof(pmfs_super, s_nblocks), &bad, sizeof(bad));
	// Every copy (any valid one would be used to restore the primary):
	// block 0's two, and the one in the last block.
	poke(fs.path, 2048 + offsetof(pmfs_super, s_nblocks), &bad,
	     sizeof(bad));
	poke(fs.path, off_t(s.s_size) + offsetof(pmfs_super, s_nblocks), &bad,
	     sizeof(bad));
	CHECK(fs.mount("") == -EINVAL);
	CHECK(fs.errmsg ==
	      "image " + fs.path + ": corrupt superblock (checksum mismatch)");
	poke(fs.path, offsetof(pmfs_super, s_nblocks), &s.s_nblocks,
	     sizeof(bad));
	CHECK(fs.mount("") == 0);
}

TEST_CASE("a too small image is refused", "[server][super]")
{
	Fs fs(8ULL << 20);
	CHECK(fs.mount("mkfs") == -EINVAL);
	CHECK(fs.errmsg ==
	      "image " + fs.path + ": size 8388608 too small (minimum 16 MiB)");
	REQUIRE(truncate(fs.path.c_str(), 4 << 20) == 0);
	CHECK(fs.mount_opts("pmem=" + fs.path + ",mkfs") == -EINVAL);
	CHECK(fs.errmsg ==
	      "image " + fs.path +
		      ": too small (4194304 bytes, minimum 16 MiB)");
}

TEST_CASE("a missing image needs a size", "[server][super]")
{
	Fs fs(16ULL << 20);
	unlink(fs.path.c_str());
	CHECK(fs.mount_opts("pmem=" + fs.path) == -ENOENT);
	CHECK(fs.errmsg ==
	      "image " + fs.path +
		      ": No such file or directory (give --size to create it)");
	// Created with size=: formatted without being asked.
	CHECK(fs.mount_opts("pmem=" + fs.path + ",size=16777216") == 0);
	struct statfs64 st;
	REQUIRE(fs.statfs(&st) == 0);
	CHECK(st.f_blocks > 3000);
}

TEST_CASE("an image is locked while mounted", "[server][super]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Fs other;
	other.srv = zus::make_server();
	std::string err;
	zufs_ioc_mount m{};
	(void)m;
	CHECK(other.mount_opts("pmem=" + fs.path) == -EBUSY);
	CHECK(other.errmsg ==
	      "image " + fs.path +
		      ": already mounted by another zufuse (locked)");
	CHECK(zus::format_image(fs.path, 0, true, &err) == -EBUSY);
	REQUIRE(fs.umount() == 0);
	CHECK(other.mount_opts("pmem=" + fs.path) == 0);
	other.umount();
}

TEST_CASE("superblock is dirty while mounted and clean after umount",
	  "[server][super]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	CHECK(read_super(fs.path).s_state == zus::pmfs::kStateDirty);
	uint64_t gen = read_super(fs.path).s_mount_gen;
	REQUIRE(fs.umount() == 0);
	CHECK(read_super(fs.path).s_state == zus::pmfs::kStateClean);
	REQUIRE(fs.mount("") == 0);
	CHECK(read_super(fs.path).s_mount_gen == gen + 1);
}

TEST_CASE("unknown options and bad sizes are refused", "[server][super]")
{
	Fs fs;
	CHECK(fs.mount("bogus") == -EINVAL);
	CHECK(fs.errmsg == "unknown mount option 'bogus'");
	CHECK(fs.mount_opts("pmem=" + fs.path + ",size=12x") == -EINVAL);
	CHECK(fs.errmsg == "bad size '12x' (decimal bytes)");
	CHECK(fs.mount_opts("size=100") == -EINVAL);
	CHECK(fs.errmsg == "missing pmem=PATH");
}

TEST_CASE("format_image formats, refuses a formatted image unless forced",
	  "[server][super]")
{
	Fs fs(32ULL << 20);
	std::string err;
	unlink(fs.path.c_str());
	REQUIRE(zus::format_image(fs.path, 32ULL << 20, false, &err) == 0);
	CHECK(zus::format_image(fs.path, 0, false, &err) == -EEXIST);
	CHECK(err ==
	      "image " + fs.path +
		      ": holds a zufuse file system; refusing to format it (use --force)");
	REQUIRE(fs.mount("") == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0600, &f) == 0);
	fs.evict(f);
	REQUIRE(fs.umount() == 0);
	REQUIRE(zus::format_image(fs.path, 0, true, &err) == 0);
	REQUIRE(fs.mount("") == 0);
	CHECK(fs.lookup(fs.root, "a") == -ENOENT);
}

TEST_CASE("unknown operations and short messages", "[server][runtime]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	zufs_ioc_hdr h{};
	h.operation = ZUFS_OP_MAX_OPT + 3;
	CHECK(fs.dispatch(&h, sizeof(h)) == -EOPNOTSUPP);
	CHECK(h.err == -EOPNOTSUPP);
	h.operation = ZUFS_OP_IOCTL;
	CHECK(fs.dispatch(&h, sizeof(h)) == -EOPNOTSUPP);
	zufs_ioc_lookup lk{};
	lk.hdr.operation = ZUFS_OP_LOOKUP;
	lk.dir_ii = fs.root.ii;
	CHECK(fs.dispatch(&lk.hdr, sizeof(lk) - 1) == -EINVAL);
}

TEST_CASE("check_image finds a clean image clean and a damaged one damaged",
	  "[server][super]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, ztest::pattern(100000, 1)) == 0);
	uint64_t ino = f.zi->i_ino;
	fs.evict(f);
	std::string report;
	CHECK(zus::check_image(fs.path, &report) == -EBUSY); // mounted: locked
	REQUIRE(fs.umount() == 0);
	CHECK(zus::check_image(fs.path, &report) == 0);
	CHECK(report.empty());

	// Damage: a wrong link count in the inode table.
	pmfs_super s = read_super(fs.path);
	off_t at = s.s_itable_blk * 4096 + (ino - 1) * 128 +
		   offsetof(zus_inode, i_nlink);
	uint32_t nlink = 5;
	poke(fs.path, at, &nlink, sizeof(nlink));
	CHECK(zus::check_image(fs.path, &report) == 1);
	CHECK(report ==
	      "inode " + std::to_string(ino) + ": i_nlink 5, 1 names\n");
}

TEST_CASE("ZUFS_OP_STATS: space and journal commits", "[server][runtime]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	auto stats = [&] {
		zufs_ioc_stats st{};
		st.hdr.operation = ZUFS_OP_STATS;
		st.zus_sbi = fs.sbi;
		REQUIRE(fs.dispatch(&st.hdr, sizeof(st)) == 0);
		return st;
	};
	zufs_ioc_stats before = stats();
	CHECK(before.t1_blocks > 0);
	CHECK(before.t1_free <= before.t1_blocks);
	CHECK(before.t2_blocks == 0);
	CHECK(before.inodes > before.inodes_free);

	for (int i = 0; i < 10; ++i)
		REQUIRE(fs.create(fs.root, "f" + std::to_string(i),
				  S_IFREG | 0644) == 0);
	zufs_ioc_stats after = stats();
	// Each create is one committed transaction (at least).
	CHECK(after.journal_commits >= before.journal_commits + 10);
	CHECK(after.inodes_free == before.inodes_free - 10);
	CHECK(after.evictions == 0);

	// A message too short for the struct, or a foreign cookie.
	zufs_ioc_stats st{};
	st.hdr.operation = ZUFS_OP_STATS;
	st.zus_sbi = fs.sbi;
	CHECK(fs.dispatch(&st.hdr, sizeof(st) - 8) == -EINVAL);
	st.zus_sbi = reinterpret_cast<zus_sb_info *>(&st);
	CHECK(fs.dispatch(&st.hdr, sizeof(st)) == -EINVAL);
}
