// SPDX-License-Identifier: BSD-3-Clause
// Crash atomicity: stop a transaction at a chosen point (the test hook), as
// if the machine died there, remount, and check nothing half-done remains.
#include <linux/stat.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "harness.h"
#include "server/pmfs/journal.h"

using namespace ztest;
using zus::pmfs::TxPoint;

namespace {

std::atomic<int> g_countdown{ -1 };
TxPoint g_point;

bool crash_hook(TxPoint p)
{
	if (p != g_point)
		return false;
	return g_countdown.fetch_sub(1) == 0;
}

// Arm: the n-th (0 based) transaction reaching point p "crashes".
struct Crash {
	Crash(TxPoint p, int n = 0)
	{
		g_point = p;
		g_countdown = n;
		zus::pmfs::set_tx_fault_hook(crash_hook);
	}
	~Crash() { zus::pmfs::set_tx_fault_hook(nullptr); }
};

} // namespace

TEST_CASE("a crash after the log is written rolls the create back",
	  "[server][journal]")
{
	for (TxPoint p : { TxPoint::kLogged, TxPoint::kModified }) {
		Fs fs;
		REQUIRE(fs.mount() == 0);
		struct statfs64 st0;
		fs.statfs(&st0);
		{
			Crash c(p);
			CHECK(fs.create(fs.root, "ghost", S_IFDIR | 0755) ==
			      -EIO);
			CHECK(fs.create(fs.root, "other", S_IFREG | 0644) ==
			      -EIO); // dead now
		}
		REQUIRE(fs.umount() == 0);
		REQUIRE(fs.mount("") == 0);
		CHECK(fs.lookup(fs.root, "ghost") == -ENOENT);
		CHECK(fs.root.zi->i_nlink == 2);
		CHECK(fs.readdir(fs.root).size() == 2);
		struct statfs64 st1;
		fs.statfs(&st1);
		CHECK(st1.f_bfree == st0.f_bfree);
		CHECK(st1.f_ffree == st0.f_ffree);
		// Works normally afterwards.
		REQUIRE(fs.create(fs.root, "ghost", S_IFDIR | 0755) == 0);
	}
}

TEST_CASE("a crash in an allocating write leaves the old file",
	  "[server][journal]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, "old data") == 0);
	fs.evict(f);
	struct statfs64 st0;
	fs.statfs(&st0);
	{
		Crash c(TxPoint::kModified);
		REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
		std::string big = pattern(2 << 20, 5);
		CHECK(fs.write(f, 1 << 20, big) == -EIO);
	}
	REQUIRE(fs.umount() == 0);
	REQUIRE(fs.mount("") == 0);
	REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
	CHECK(f.zi->i_size == 8);
	CHECK(f.zi->i_blocks == 8);
	CHECK(same(fs.read(f, 0, 100), "old data"));
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_bfree == st0.f_bfree);
	fs.evict(f);
}

TEST_CASE("a crash mid-rename leaves both names as they were",
	  "[server][journal]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFDIR | 0755, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFDIR | 0755, &b) == 0);
	REQUIRE(fs.create(a, "x", S_IFDIR | 0755) == 0);
	REQUIRE(fs.create(b, "x", S_IFREG | 0644) == 0);
	{
		Crash c(TxPoint::kModified);
		CHECK(fs.rename(a, "x", b, "x", RENAME_EXCHANGE) == -EIO);
	}
	REQUIRE(fs.umount() == 0);
	REQUIRE(fs.mount("") == 0);
	Inode x;
	REQUIRE(fs.lookup(fs.root, "a", &a) == 0);
	REQUIRE(fs.lookup(a, "x", &x) == 0);
	CHECK(S_ISDIR(x.zi->i_mode));
	CHECK(x.zi->i_dir.parent == a.zi->i_ino);
	CHECK(a.zi->i_nlink == 3);
	fs.evict(x);
	fs.evict(a);
}

TEST_CASE("a crash mid-truncate finishes the truncation at mount",
	  "[server][journal]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	std::string d = pattern(4 << 20, 1);
	REQUIRE(fs.write(f, 0, d) == 0);
	fs.evict(f);
	struct statfs64 st0;
	fs.statfs(&st0);
	{
		// The first batch commits, the second "crashes".
		Crash c(TxPoint::kModified, 2);
		REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
		CHECK(fs.setattr(f, STATX_SIZE, 10) == -EIO);
	}
	REQUIRE(fs.umount() == 0);
	REQUIRE(fs.mount("") == 0);
	REQUIRE(fs.lookup(fs.root, "f", &f) == 0);
	CHECK(f.zi->i_size == 10);
	CHECK(f.zi->i_blocks == 1 * 8); // block 0 (radix nodes not counted)
	CHECK(same(fs.read(f, 0, 100), d.substr(0, 10)));
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_bfree == st0.f_bfree + 1024);
	fs.evict(f);
}

TEST_CASE("orphans (unlinked, still referenced) are freed at the next mount",
	  "[server][journal]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	REQUIRE(fs.create(fs.root, "first", S_IFREG | 0644) ==
		0); // root's dir block
	struct statfs64 st0;
	fs.statfs(&st0);
	Inode f;
	REQUIRE(fs.create(fs.root, "open-unlinked", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, pattern(1 << 20, 2)) == 0);
	Inode l;
	REQUIRE(fs.lookup(fs.root, "open-unlinked", &l) == 0);
	REQUIRE(fs.dentry(ZUFS_OP_REMOVE_DENTRY, fs.root, l, "open-unlinked") ==
		0);
	CHECK(f.zi->i_nlink == 0);
	// Still readable through the reference.
	CHECK(fs.read(f, 0, 4).size() == 4);
	{
		// "Crash" with the reference held: the next transaction dies.
		Crash c(TxPoint::kLogged);
		CHECK(fs.create(fs.root, "x", S_IFREG | 0644) == -EIO);
	}
	REQUIRE(fs.umount() == 0);
	REQUIRE(fs.mount("") == 0);
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_bfree == st0.f_bfree);
	CHECK(st1.f_ffree == st0.f_ffree);
}

namespace {

// A workload touching every kind of transaction: creates, allocating and
// hole-filling writes, truncates, links, renames (plain, over, exchange,
// across directories), unlinks, rmdir. Errors are ignored: after the
// simulated crash every call fails with -EIO.
void workload(Fs &fs)
{
	Inode d1, d2, f;
	fs.create(fs.root, "d1", S_IFDIR | 0755, &d1);
	fs.create(fs.root, "d2", S_IFDIR | 0755, &d2);
	if (!d1 || !d2)
		return;
	for (int i = 0; i < 6; ++i)
		fs.create(d1, "f" + std::to_string(i), S_IFREG | 0644);
	if (fs.lookup(d1, "f1", &f) == 0) {
		fs.write(f, 0, pattern(1500000, 1));
		fs.write(f, 9000000, pattern(5000, 2));
		fs.write(f, 600000, "hole-fill");
		fs.setattr(f, STATX_SIZE, 700000);
		fs.link(d2, f, "hard");
		fs.evict(f);
	}
	fs.create(fs.root, "sym", S_IFLNK | 0777, nullptr,
		  std::string(100, 's'));
	fs.rename(d1, "f2", d2, "moved");
	fs.rename(d1, "f3", d2, "moved");
	fs.rename(d1, "f4", d2, "hard", RENAME_EXCHANGE);
	fs.create(d2, "sub", S_IFDIR | 0755);
	fs.rename(d2, "sub", d1, "sub2");
	fs.unlink(d1, "f0");
	fs.unlink(d2, "hard");
	fs.unlink(d1, "sub2");
	fs.create(d1, "last", S_IFREG | 0644);
	fs.evict(d1);
	fs.evict(d2);
}

} // namespace

TEST_CASE(
	"crash at every transaction of a workload: recovery leaves a consistent image",
	"[server][journal][crash]")
{
	// How many transactions the workload runs.
	int total = 0;
	{
		Fs fs;
		REQUIRE(fs.mount() == 0);
		static std::atomic<int> count;
		count = 0;
		zus::pmfs::set_tx_fault_hook([](TxPoint p) {
			if (p == TxPoint::kLogged)
				++count;
			return false;
		});
		workload(fs);
		zus::pmfs::set_tx_fault_hook(nullptr);
		total = count;
		auto r = fs.check();
		INFO(r.report);
		CHECK(r.errors == 0);
	}
	REQUIRE(total > 20);
	for (int k = 0; k < total; ++k) {
		for (TxPoint p : { TxPoint::kLogged, TxPoint::kModified }) {
			Fs fs;
			REQUIRE(fs.mount() == 0);
			{
				Crash c(p, k);
				workload(fs);
			}
			REQUIRE(fs.umount() == 0);
			REQUIRE(fs.mount("") == 0);
			auto r = fs.check();
			INFO("crash at transaction "
			     << k
			     << (p == TxPoint::kLogged ? " (logged)" :
							 " (modified)")
			     << "\n"
			     << r.report);
			REQUIRE(r.errors == 0);
			// And it keeps working.
			REQUIRE(fs.create(fs.root, "after", S_IFREG | 0644) ==
				0);
		}
	}
}
