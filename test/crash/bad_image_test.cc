// SPDX-License-Identifier: BSD-3-Clause
// Bad images, each with its own message: torn superblock write, wrong magic,
// future format version, superblock larger than the image, image truncated
// while unmounted; and fsck_image's e2fsck exit codes and repairs.
#include <fcntl.h>
#include <linux/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>

#include "../server/harness.h"
#include "server/crc32c.h"
#include "server/pmfs/format.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/layout.h"
#include "server/server.h"

using namespace ztest;
using zus::pmfs::pmfs_super;

namespace {

pmfs_super read_super(const std::string &path, off_t at = 0)
{
	pmfs_super s{};
	int fd = open(path.c_str(), O_RDONLY);
	REQUIRE(pread(fd, &s, sizeof(s), at) == sizeof(s));
	close(fd);
	return s;
}

void write_at(const std::string &path, off_t off, const void *p, size_t n)
{
	int fd = open(path.c_str(), O_WRONLY);
	REQUIRE(pwrite(fd, p, n, off) == ssize_t(n));
	close(fd);
}

// Rewrite both superblock copies with a valid checksum.
void write_super_both(const std::string &path, pmfs_super s)
{
	s.s_crc = 0;
	s.s_crc = zus::crc32c(0, &s, sizeof(s));
	write_at(path, 0, &s, sizeof(s));
	write_at(path, 2048, &s, sizeof(s));
}

std::string fresh(Fs &fs)
{
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, pattern(9000, 1)) == 0);
	fs.evict(f);
	REQUIRE(fs.umount() == 0);
	return "image " + fs.path + ": ";
}

} // namespace

TEST_CASE("bad image: torn superblock write", "[crash][badimage]")
{
	Fs fs;
	std::string pre = fresh(fs);
	pmfs_super s = read_super(fs.path);
	// Half of a new superblock over the old one: checksum mismatch.
	pmfs_super torn = s;
	torn.s_mount_gen += 7;
	torn.s_state = zus::pmfs::kStateDirty;
	write_at(fs.path, 0, &torn, 64);
	REQUIRE(fs.mount("") == 0); // the backup copy is valid: restored
	REQUIRE(fs.umount() == 0);
	std::string report;
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
	// Both copies in block 0 torn: the copy in the last block restores.
	write_at(fs.path, 0, &torn, 64);
	write_at(fs.path, 2048, &torn, 64);
	REQUIRE(fs.mount("") == 0);
	REQUIRE(fs.umount() == 0);
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
	// Every copy torn: refused.
	write_at(fs.path, 0, &torn, 64);
	write_at(fs.path, 2048, &torn, 64);
	write_at(fs.path, off_t(s.s_size), &torn, 64);
	CHECK(fs.mount("") == -EINVAL);
	CHECK(fs.errmsg == pre + "corrupt superblock (checksum mismatch)");
	CHECK(zus::fsck_image(fs.path, true, nullptr, &report) == 4);
}

TEST_CASE("bad image: wrong magic", "[crash][badimage]")
{
	Fs fs;
	std::string pre = fresh(fs);
	uint64_t junk = 0x1122334455667788ULL;
	// Only block 0's primary: its backup restores it.
	write_at(fs.path, 0, &junk, 8);
	REQUIRE(fs.mount("") == 0);
	REQUIRE(fs.umount() == 0);
	// No copy left anywhere: refused.
	const uint64_t tail = read_super(fs.path).s_size;
	for (uint64_t off : { uint64_t(0), uint64_t(2048), tail })
		write_at(fs.path, off_t(off), &junk, 8);
	CHECK(fs.mount("") == -EINVAL);
	CHECK(fs.errmsg ==
	      pre + "bad magic, not a zufuse image (use --mkfs to format)");
}

TEST_CASE("bad image: future format version", "[crash][badimage]")
{
	Fs fs;
	std::string pre = fresh(fs);
	pmfs_super s = read_super(fs.path);
	s.s_version = zus::pmfs::kVersion + 1;
	write_super_both(fs.path, s);
	CHECK(fs.mount("") == -EINVAL);
	CHECK(fs.errmsg == pre + "unsupported format version " +
				   std::to_string(zus::pmfs::kVersion + 1) +
				   " (this zufuse reads 3 to " +
				   std::to_string(zus::pmfs::kVersion) + ")");
}

TEST_CASE("bad image: version 3 and 4 images mount and become version 5",
	  "[crash][badimage]")
{
	static_assert(zus::pmfs::kVersion == 5 && zus::pmfs::kMinVersion == 3);
	for (uint32_t v : { 3u, 4u }) {
		Fs fs;
		fresh(fs);
		pmfs_super s = read_super(fs.path);
		s.s_version = v;
		write_super_both(fs.path, s);
		REQUIRE(fs.mount("ro") == 0); // read-only: left as it is
		REQUIRE(fs.umount() == 0);
		CHECK(read_super(fs.path).s_version == v);
		REQUIRE(fs.mount("") == 0);
		REQUIRE(fs.umount() == 0);
		CHECK(read_super(fs.path).s_version == 5);
		CHECK(read_super(fs.path, 2048).s_version == 5);
		std::string report;
		CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
	}
}

TEST_CASE("bad image: an older format version, whose superblock checksum "
	  "covers another size, is named as such",
	  "[crash][badimage]")
{
	Fs fs;
	std::string pre = fresh(fs);
	pmfs_super s = read_super(fs.path);
	s.s_version = 1; // v1's superblock was 136 bytes: its crc is not ours
	s.s_crc ^= 0x5a5a5a5a;
	for (uint64_t off :
	     { uint64_t(0), uint64_t(zus::pmfs::kSuperBackupOff) })
		write_at(fs.path, off, &s, sizeof(s));
	CHECK(fs.mount("") == -EINVAL);
	CHECK(fs.errmsg ==
	      pre + "unsupported format version 1 (this zufuse reads 3 to " +
		      std::to_string(zus::pmfs::kVersion) + ")");
}

TEST_CASE("bad image: superblock says more than the image holds",
	  "[crash][badimage]")
{
	Fs fs;
	std::string pre = fresh(fs);
	pmfs_super s = read_super(fs.path);
	uint64_t real = s.s_size;
	s.s_size *= 2;
	s.s_nblocks *= 2;
	write_super_both(fs.path, s);
	CHECK(fs.mount("") == -EINVAL);
	// The image is the file system and the copy of the superblock after it.
	CHECK(fs.errmsg == pre + "truncated (" + std::to_string(real + 4096) +
				   " bytes, formatted for " +
				   std::to_string(real * 2) + ")");
}

TEST_CASE("bad image: truncated while unmounted", "[crash][badimage]")
{
	Fs fs(32ULL << 20);
	std::string pre = fresh(fs);
	REQUIRE(truncate(fs.path.c_str(), 20ULL << 20) == 0);
	CHECK(fs.mount_opts("pmem=" + fs.path) == -EINVAL);
	CHECK(fs.errmsg == pre + "truncated (20971520 bytes, formatted for " +
				   std::to_string((32 << 20) - 4096) + ")");
	REQUIRE(truncate(fs.path.c_str(), 1ULL << 20) == 0);
	CHECK(fs.mount_opts("pmem=" + fs.path) == -EINVAL);
	CHECK(fs.errmsg == pre + "too small (1048576 bytes, minimum 16 MiB)");
}

TEST_CASE("fsck: exit codes, repairs, a mounted image", "[crash][fsck]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f, g;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, pattern(20000, 2)) == 0);
	REQUIRE(fs.create(fs.root, "g", S_IFREG | 0644, &g) == 0);
	std::string report;
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 8); // locked
	CHECK(report.find("already mounted") != std::string::npos);
	// Damage: a wrong link count, a leaked block, a dangling entry.
	f.zi->i_nlink = 3;
	uint64_t gino = g.zi->i_ino;
	auto *bitmap = reinterpret_cast<uint64_t *>(
		fs.base +
		reinterpret_cast<pmfs_super *>(fs.base)->s_bitmap_blk * 4096);
	uint64_t last =
		reinterpret_cast<pmfs_super *>(fs.base)->s_nblocks - 100;
	bitmap[last / 64] |= 1ULL << (last % 64);
	fs.evict(f);
	fs.evict(g);
	REQUIRE(fs.umount() == 0);
	{ // free g's slot behind the directory's back
		auto s = read_super(fs.path);
		off_t at = s.s_itable_blk * 4096 + (gino - 1) * 128 +
			   offsetof(zus_inode, i_ino);
		uint64_t zero = 0;
		write_at(fs.path, at, &zero, 8);
	}
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 4);
	CHECK(report.find("i_nlink 3") != std::string::npos);
	CHECK(report.find("marked used but not referenced") !=
	      std::string::npos);
	CHECK(report.find("free or invalid inode") != std::string::npos);
	CHECK(zus::fsck_image(fs.path, true, nullptr, &report) == 1);
	INFO(report);
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
	REQUIRE(fs.mount("") == 0);
	CHECK(fs.lookup(fs.root, "g") == -ENOENT);
	Inode f2;
	REQUIRE(fs.lookup(fs.root, "f", &f2) == 0);
	CHECK(f2.zi->i_nlink == 1);
	CHECK(same(fs.read(f2, 0, 20000), pattern(20000, 2)));
	fs.evict(f2);
}

// Found by the image fuzzer: region starts so large that start + length
// wrapped past the geometry checks (then blk() pointed outside the map).
TEST_CASE("bad image: region starts that wrap around", "[crash][badimage]")
{
	Fs fs;
	std::string pre = fresh(fs);
	const pmfs_super good = read_super(fs.path);
	for (int field = 0; field < 5; ++field) {
		pmfs_super s = good;
		uint64_t *f[] = { &s.s_journal_blk, &s.s_bitmap_blk,
				  &s.s_itable_blk, &s.s_orphan_blk,
				  &s.s_bitmap_blocks };
		*f[field] = ~0ULL - 3;
		write_super_both(fs.path, s);
		INFO("field " << field);
		CHECK(fs.mount("") == -EINVAL);
		CHECK(fs.errmsg == pre + "corrupt superblock (bad geometry)");
		std::string report;
		CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 4);
	}
	write_super_both(fs.path, good);
	REQUIRE(fs.mount("") == 0);
}

// Found by the image fuzzer: a live lane whose record length is near 2^32
// (the record size wrapped to a small one; recovery then checksummed 4 GiB
// past the lane). The corrupt record ends the lane's valid records.
TEST_CASE("bad image: a journal record with a huge length", "[crash][badimage]")
{
	Fs fs;
	fresh(fs);
	REQUIRE(fs.mount("") == 0);
	zus::pmfs::set_tx_fault_hook([](zus::pmfs::TxPoint p) {
		return p == zus::pmfs::TxPoint::kModified;
	});
	CHECK(fs.create(fs.root, "g", S_IFREG | 0644) == -EIO);
	zus::pmfs::set_tx_fault_hook(nullptr);
	REQUIRE(fs.umount() == 0); // crashed: the lane stays live
	const pmfs_super s = read_super(fs.path);
	bool poked = false;
	for (uint32_t l = 0; l < s.s_lanes && !poked; ++l) {
		off_t head =
			(s.s_journal_blk + off_t(l) * s.s_lane_blocks) * 4096;
		uint64_t seq = 0;
		int fd = open(fs.path.c_str(), O_RDONLY);
		REQUIRE(pread(fd, &seq, 8, head) == 8);
		close(fd);
		if (!seq)
			continue;
		uint32_t len = 0xfffffffd; // the first record's len field
		write_at(fs.path, head + 64 + 16, &len, sizeof(len));
		poked = true;
	}
	REQUIRE(poked);
	REQUIRE(fs.mount("") == 0);
	std::string report;
	REQUIRE(fs.umount() == 0);
	CHECK(zus::fsck_image(fs.path, true, nullptr, &report) <= 4);
}

// Found by the image fuzzer: a directory whose radix root (or a node
// below it) points outside the image; adding a name there must fail with
// -EIO, not read outside the map.
TEST_CASE("bad image: a directory tree pointer outside the image",
	  "[crash][badimage]")
{
	Fs fs;
	fresh(fs);
	const pmfs_super s = read_super(fs.path);
	// The root directory (ino 1, slot 0): height 1, root node far away.
	off_t root_zi = off_t(s.s_itable_blk) * 4096;
	zus_inode zi;
	int fd = open(fs.path.c_str(), O_RDONLY);
	REQUIRE(pread(fd, &zi, sizeof(zi), root_zi) == sizeof(zi));
	close(fd);
	zi.i_on_disk.a[0] = (1ULL << 40) + 5;
	zi.i_on_disk.a[1] = 1;
	zi.i_size = 64 * 4096; // every slot looks taken: the add grows the tree
	write_at(fs.path, root_zi, &zi, sizeof(zi));
	REQUIRE(fs.mount("") == 0);
	for (int i = 0; i < 3; ++i)
		CHECK(fs.create(fs.root, "n" + std::to_string(i),
				S_IFREG | 0644) < 0);
	REQUIRE(fs.umount() == 0);
}
