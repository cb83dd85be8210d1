// SPDX-License-Identifier: BSD-3-Clause
// Block and inode allocation: fill, ENOSPC, space comes back (also after a
// remount, when the allocator is rebuilt from the bitmap).
#include <linux/stat.h>

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "harness.h"
#include "server/pmfs/balloc.h"
#include "server/pmfs/pmfs.h"

using namespace ztest;

TEST_CASE("fill the device, ENOSPC, free, reuse", "[server][alloc]")
{
	Fs fs(16ULL << 20);
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "fill", S_IFREG | 0644, &f) == 0);
	struct statfs64 st0;
	fs.statfs(&st0);
	std::string chunk = pattern(1 << 20, 1);
	uint64_t pos = 0;
	int err;
	zufs_ioc_IO io{};
	while ((err = fs.write(f, pos, chunk, 0, 0, &io)) == 0)
		pos += chunk.size();
	CHECK(err == -ENOSPC);
	uint64_t got = io.last_pos; // partial progress is reported
	CHECK(got >= pos);
	struct statfs64 full;
	fs.statfs(&full);
	// Free: only the reserve for freeing operations (balloc.h), which
	// f_bavail does not count.
	CHECK(full.f_bfree == fs.sbi->balloc.reserved());
	CHECK(fs.sbi->balloc.reserved() > 0);
	CHECK(full.f_bavail == 0);
	CHECK(same(fs.read(f, got - 4096, 4096),
		   chunk.substr((got - 4096) % chunk.size(), 4096)));

	// A new name still fits into the root's existing directory block.
	CHECK(fs.create(fs.root, "tiny", S_IFREG | 0644) == 0);

	REQUIRE(fs.setattr(f, STATX_SIZE, 0) == 0);
	struct statfs64 st1;
	fs.statfs(&st1);
	CHECK(st1.f_bfree == st0.f_bfree);
	REQUIRE(fs.write(f, 0, chunk) == 0);
	REQUIRE(fs.setattr(f, STATX_SIZE, 0) == 0);
	fs.evict(f);

	REQUIRE(fs.remount() == 0);
	struct statfs64 st2;
	fs.statfs(&st2);
	CHECK(st2.f_bfree == st0.f_bfree);
	{
		auto r = fs.check();
		INFO(r.report);
		CHECK(r.errors == 0);
	}
}

TEST_CASE("inodes run out and come back", "[server][alloc]")
{
	Fs fs(16ULL << 20);
	REQUIRE(fs.mount() == 0);
	struct statfs64 st;
	fs.statfs(&st);
	uint64_t n = st.f_ffree;
	CHECK(n == 1023);
	for (uint64_t i = 0; i < n; ++i)
		REQUIRE(fs.create(fs.root, "i" + std::to_string(i),
				  S_IFREG | 0644) == 0);
	CHECK(fs.create(fs.root, "one-more", S_IFREG | 0644) == -ENOSPC);
	for (uint64_t i = 0; i < n; i += 2)
		REQUIRE(fs.unlink(fs.root, "i" + std::to_string(i)) == 0);
	fs.statfs(&st);
	CHECK(st.f_ffree == (n + 1) / 2);
	REQUIRE(fs.remount() == 0);
	fs.statfs(&st);
	CHECK(st.f_ffree == (n + 1) / 2);
	CHECK(fs.create(fs.root, "one-more", S_IFREG | 0644) == 0);
}

// A request's own room (balloc.h): blocks freed by a thread under a Hold
// (its synchronous eviction) go to that Hold; another thread cannot take
// them, this one can; what is left goes back when the Hold ends. The
// reserve is taken only inside a ReserveScope and refilled first.
TEST_CASE("balloc: a Hold keeps the room its thread made; the reserve",
	  "[server][alloc]")
{
	Fs fs(16ULL << 20);
	REQUIRE(fs.mount() == 0);
	zus::pmfs::BlockAlloc &ba = fs.sbi->balloc;
	// Every mount keeps one (1/64 of a small data area, at most 64).
	CHECK(ba.reserved() == std::min<uint64_t>(64, ba.data_blocks() / 64));
	ba.set_reserve(0); // gives it back to everyone
	CHECK(ba.reserved() == 0);
	const uint64_t free0 = ba.free_blocks();
	REQUIRE(ba.available() == free0);
	std::vector<zus::pmfs::BlockAlloc::Run> taken;
	for (;;) {
		zus::pmfs::BlockAlloc::Run r[8];
		int n = 0;
		if (!ba.alloc(256, r, 8, &n))
			break;
		taken.insert(taken.end(), r, r + n);
	}
	REQUIRE(ba.available() == 0);
	REQUIRE(taken.size() >= 2);
	auto other_thread_alloc = [&] {
		uint64_t b = 0;
		std::thread([&] { b = ba.alloc_one(); }).join();
		return b;
	};
	const auto a = taken[0], b = taken[1];
	REQUIRE(a.n >= 2);
	{
		zus::pmfs::BlockAlloc::Hold hold(ba);
		ba.release(a.bn, 2); // what this request's eviction freed
		CHECK(ba.held_here() == 2);
		CHECK(other_thread_alloc() == 0); // not another request's
		uint64_t mine = ba.alloc_one();
		CHECK((mine == a.bn || mine == a.bn + 1));
		CHECK(ba.held_here() == 1);
	}
	// The Hold ended: its last block is everyone's again.
	uint64_t back = other_thread_alloc();
	CHECK((back == a.bn || back == a.bn + 1));

	// A reserve of 1: refilled first by a release, taken only in a scope.
	ba.set_reserve(1);
	ba.release(b.bn, 1);
	CHECK(ba.reserved() == 1);
	CHECK(ba.alloc_one() == 0);
	{
		zus::pmfs::BlockAlloc::ReserveScope scope;
		CHECK(ba.alloc_one() == b.bn);
	}
	CHECK(ba.reserved() == 0);
	ba.set_reserve(0);
	// Everything back: the counts are whole again.
	ba.release(a.bn, 2);
	ba.release(b.bn, 1);
	ba.release(a.bn + 2, a.n - 2);
	ba.release(b.bn + 1, b.n - 1);
	for (size_t i = 2; i < taken.size(); ++i)
		ba.release(taken[i].bn, taken[i].n);
	CHECK(ba.free_blocks() == free0);
	CHECK(ba.available() == free0);
}
