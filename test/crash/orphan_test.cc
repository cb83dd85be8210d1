// SPDX-License-Identifier: BSD-3-Clause
// The orphan table (server/pmfs/inode.h): what recovery must finish is
// listed, so an unclean mount visits only that; a full table falls back to
// the scan of every inode; a clean mount finds it empty (and repairs it if
// not); fsck checks and repairs it; fsck -n flags an image that was not
// cleanly unmounted.
#include <linux/stat.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "../server/harness.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/layout.h"
#include "server/pmfs/pmfs.h"

using namespace ztest;
using zus::pmfs::pmfs_super;

namespace {

const pmfs_super &super(const Fs &fs)
{
	return *reinterpret_cast<const pmfs_super *>(fs.base);
}

uint64_t *table(const Fs &fs)
{
	return reinterpret_cast<uint64_t *>(fs.base +
					    super(fs).s_orphan_blk * 4096);
}

size_t table_used(const Fs &fs)
{
	size_t n = 0;
	for (uint64_t i = 0; i < super(fs).s_orphan_blocks * 512; ++i)
		n += table(fs)[i] != 0;
	return n;
}

bool in_table(const Fs &fs, uint64_t ino)
{
	for (uint64_t i = 0; i < super(fs).s_orphan_blocks * 512; ++i)
		if (table(fs)[i] == ino)
			return true;
	return false;
}

// "Crash": the next transaction dies, the mount refuses everything after,
// and umount leaves the media exactly as it is.
void crash(Fs &fs)
{
	zus::pmfs::set_tx_fault_hook([](zus::pmfs::TxPoint) { return true; });
	CHECK(fs.create(fs.root, "crash-now", S_IFREG | 0644) == -EIO);
	zus::pmfs::set_tx_fault_hook(nullptr);
	REQUIRE(fs.umount() == 0);
}

// n files, each written, opened (a held reference) and unlinked.
std::vector<Inode> open_unlinked(Fs &fs, int n, const std::string &prefix)
{
	std::vector<Inode> open(n);
	for (int i = 0; i < n; ++i) {
		std::string name = prefix + std::to_string(i);
		REQUIRE(fs.create(fs.root, name, S_IFREG | 0644, &open[i]) ==
			0);
		REQUIRE(fs.write(open[i], 0, pattern(5000, i)) == 0);
		REQUIRE(fs.unlink(fs.root, name) == 0);
		REQUIRE(open[i].zi->i_nlink == 0);
	}
	return open;
}

Inode tmpfile(Fs &fs)
{
	zufs_ioc_new_inode ni{};
	ni.hdr.operation = ZUFS_OP_NEW_INODE;
	ni.zi.i_mode = S_IFREG | 0600;
	ni.dir_ii = fs.root.ii;
	ni.flags = ZI_TMPFILE;
	REQUIRE(fs.dispatch(&ni.hdr, sizeof(ni)) == 0);
	return Inode{ ni.zus_ii, fs.zi_at(ni._zi) };
}

} // namespace

TEST_CASE(
	"orphan table: unlinked open files are listed, freed at close or by recovery",
	"[orphan]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	REQUIRE(fs.create(fs.root, "first", S_IFREG | 0644) ==
		0); // root's dir block
	struct statfs64 st0;
	fs.statfs(&st0);
	auto open = open_unlinked(fs, 40, "o");
	CHECK(table_used(fs) == 40);
	for (auto &f : open)
		CHECK(in_table(fs, f.ii ? f.zi->i_ino : 0));
	// Closing one frees it and its entry.
	REQUIRE(fs.evict(open[0], 0, ZUFS_OP_FREE_INODE) == 0);
	CHECK(table_used(fs) == 39);
	auto r = fs.check();
	CHECK(r.orphan_table_errors == 0);

	crash(fs);
	REQUIRE(fs.mount("") == 0);
	CHECK(table_used(fs) == 0);
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_bfree == st0.f_bfree);
	CHECK(st1.f_ffree == st0.f_ffree);
	r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

TEST_CASE("orphan table: O_TMPFILE is listed until linked", "[orphan]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	struct statfs64 st0;
	fs.statfs(&st0);
	Inode t = tmpfile(fs), u = tmpfile(fs);
	REQUIRE(fs.write(u, 0, pattern(9000, 1)) == 0);
	CHECK(in_table(fs, t.zi->i_ino));
	CHECK(in_table(fs, u.zi->i_ino));
	REQUIRE(fs.link(fs.root, t, "named") == 0);
	CHECK(!in_table(fs, t.zi->i_ino));
	CHECK(t.zi->i_nlink == 1);
	crash(fs);
	REQUIRE(fs.mount("") == 0);
	CHECK(table_used(fs) == 0);
	CHECK(fs.lookup(fs.root, "named") == 0);
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_ffree == st0.f_ffree - 1);
	auto r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

TEST_CASE("orphan table: an interrupted truncation is listed and finished",
	  "[orphan]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "big", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, pattern(3 << 20, 3)) == 0);
	struct statfs64 st0;
	fs.statfs(&st0);
	// The SETATTR transaction commits (size, kZiTruncating, the entry);
	// the first transaction freeing blocks dies.
	static int n;
	n = 0;
	zus::pmfs::set_tx_fault_hook([](zus::pmfs::TxPoint p) {
		return p == zus::pmfs::TxPoint::kLogged && ++n == 2;
	});
	CHECK(fs.setattr(f, STATX_SIZE, 100) == -EIO);
	zus::pmfs::set_tx_fault_hook(nullptr);
	CHECK((f.zi->i_flags & zus::pmfs::kZiTruncating));
	CHECK(in_table(fs, f.zi->i_ino));
	REQUIRE(fs.umount() == 0);
	REQUIRE(fs.mount("") == 0);
	CHECK(table_used(fs) == 0);
	Inode g;
	REQUIRE(fs.lookup(fs.root, "big", &g) == 0);
	CHECK(g.zi->i_size == 100);
	CHECK(!(g.zi->i_flags & zus::pmfs::kZiTruncating));
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_bfree >= st0.f_bfree + 767); // 768 data blocks, one kept
	fs.evict(g);
	auto r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

TEST_CASE("orphan table full: the flag makes the next mount scan every inode",
	  "[orphan]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	REQUIRE(fs.create(fs.root, "first", S_IFREG | 0644) == 0);
	struct statfs64 st0;
	fs.statfs(&st0);
	const uint64_t cap = super(fs).s_orphan_blocks * 512;
	auto open = open_unlinked(fs, int(cap) + 30, "o");
	CHECK(table_used(fs) == cap);
	CHECK((super(fs).s_flags & zus::pmfs::kSuperOrphanFull));
	auto r = fs.check(); // unlisted orphans are allowed now
	CHECK(r.orphan_table_errors == 0);
	// Entries freed at close are reused (the flag stays until a scan).
	for (int i = 0; i < 10; ++i)
		REQUIRE(fs.evict(open[i], 0, ZUFS_OP_FREE_INODE) == 0);
	CHECK(table_used(fs) == cap - 10);

	crash(fs);
	REQUIRE(fs.mount("") == 0);
	CHECK(table_used(fs) == 0);
	CHECK(!(super(fs).s_flags & zus::pmfs::kSuperOrphanFull));
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_bfree == st0.f_bfree);
	CHECK(st1.f_ffree == st0.f_ffree);
	r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	// And the table works again.
	auto more = open_unlinked(fs, 3, "p");
	CHECK(table_used(fs) == 3);
	for (auto &f : more)
		fs.evict(f, 0, ZUFS_OP_FREE_INODE);
	CHECK(table_used(fs) == 0);
}

TEST_CASE(
	"orphan table: stale entries are found by fsck and cleared by a clean mount",
	"[orphan]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	const uint64_t ino = a.zi->i_ino;
	fs.evict(a);
	REQUIRE(fs.umount() == 0);
	{
		// Poke the unmounted, clean image: a live inode, an invalid one.
		int fd = open(fs.path.c_str(), O_RDWR);
		pmfs_super s;
		REQUIRE(pread(fd, &s, sizeof(s), 0) == sizeof(s));
		uint64_t e[2] = { ino, 999999 };
		REQUIRE(pwrite(fd, e, sizeof(e),
			       s.s_orphan_blk * 4096 + 8 * 7) == sizeof(e));
		close(fd);
	}
	std::string report;
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 4);
	CHECK(report.find("orphan table entry 7") != std::string::npos);
	CHECK(report.find("orphan table entry 8") != std::string::npos);

	REQUIRE(fs.mount("") == 0); // clean, but the table is not empty
	CHECK(table_used(fs) == 0);
	CHECK(fs.lookup(fs.root, "a") == 0);
	auto r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
	REQUIRE(fs.umount() == 0);
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
}

TEST_CASE("fsck -y clears bad orphan table entries", "[orphan]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	const uint64_t ino = a.zi->i_ino;
	fs.evict(a);
	REQUIRE(fs.umount() == 0);
	{
		int fd = open(fs.path.c_str(), O_RDWR);
		pmfs_super s;
		REQUIRE(pread(fd, &s, sizeof(s), 0) == sizeof(s));
		uint64_t e[3] = { ino, ino, 5 };
		REQUIRE(pwrite(fd, e, sizeof(e), s.s_orphan_blk * 4096) ==
			sizeof(e));
		close(fd);
	}
	std::string report;
	CHECK(zus::fsck_image(fs.path, true, nullptr, &report) == 1);
	INFO(report);
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
}

TEST_CASE("fsck -n flags an image that was not cleanly unmounted", "[orphan]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644) == 0);
	// Stop without a clean umount, nothing in flight: only the dirty
	// state is left.
	fs.sbi->crashed = true;
	REQUIRE(fs.umount() == 0);
	std::string report;
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 4);
	CHECK(report.find("not cleanly unmounted") != std::string::npos);
	CHECK(zus::fsck_image(fs.path, true, nullptr, &report) == 1);
	CHECK(zus::fsck_image(fs.path, false, nullptr, &report) == 0);
}
