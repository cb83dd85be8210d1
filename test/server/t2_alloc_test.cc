// SPDX-License-Identifier: BSD-3-Clause
// The T2 allocator (src/server/pmfs/t2_alloc.h): exact counts, block 0 and
// the tail never handed out, runs from the cursor, skip, and a full or
// nearly full T2 answered without a bit-by-bit scan.
#include <catch2/catch.hpp>

#include <chrono>
#include <set>
#include <vector>

#include "server/pmfs/t2_alloc.h"

using zus::pmfs::T2Alloc;

TEST_CASE("t2 alloc: counts, block 0, the tail, runs", "[t2alloc]")
{
	T2Alloc a;
	a.init(200);
	CHECK(a.used() == 0);
	CHECK(a.nfree() == 199);
	CHECK_FALSE(a.in_use(0));
	std::vector<uint64_t> out(300);
	CHECK(a.alloc(10, out.data(), nullptr) == 10);
	for (uint64_t i = 0; i < 10; ++i)
		CHECK(out[i] == i + 1); // consecutive, never block 0
	CHECK(a.alloc(300, out.data(), nullptr) == 189);
	std::set<uint64_t> all(out.begin(), out.begin() + 189);
	CHECK(all.size() == 189);
	CHECK(*all.rbegin() == 199); // never past the end
	CHECK(*all.begin() == 11);
	CHECK(a.nfree() == 0);
	CHECK(a.alloc(1, out.data(), nullptr) == 0);
	CHECK(a.free(50));
	CHECK_FALSE(a.free(50)); // twice: nothing
	CHECK_FALSE(a.free(0));
	CHECK_FALSE(a.free(500));
	CHECK(a.nfree() == 1);
	CHECK(a.alloc(5, out.data(), nullptr) == 1);
	CHECK(out[0] == 50);
	CHECK(a.free(7));
	CHECK(a.free(8));
	// skip keeps a block free.
	CHECK(a.alloc(2, out.data(), [](uint64_t b) { return b == 7; }) == 1);
	CHECK(out[0] == 8);
	CHECK(a.nfree() == 1);
	CHECK(a.mark(7));
	CHECK_FALSE(a.mark(7));
	CHECK(a.used() == 199);
}

TEST_CASE("t2 alloc: a full or nearly full 1 GiB T2 answers at once",
	  "[t2alloc]")
{
	const uint64_t n = (1ULL << 30) / 4096; // 262144 blocks
	T2Alloc a;
	a.init(n);
	std::vector<uint64_t> out(n);
	REQUIRE(a.alloc(n, out.data(), nullptr) == n - 1);
	using clock = std::chrono::steady_clock;
	auto t0 = clock::now();
	for (int i = 0; i < 10000; ++i)
		REQUIRE(a.alloc(256, out.data(), nullptr) == 0);
	auto full_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
			       clock::now() - t0)
			       .count() /
		       10000;
	// One free block at the far side of the cursor: found through the
	// summary (64 words of it), not 262144 bits.
	REQUIRE(a.free(12345));
	t0 = clock::now();
	REQUIRE(a.alloc(256, out.data(), nullptr) == 1);
	auto near_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
			       clock::now() - t0)
			       .count();
	CHECK(out[0] == 12345);
	INFO("full: " << full_ns << " ns per alloc; nearly full: " << near_ns
		      << " ns");
	CHECK(full_ns < 10000);	  // microseconds, not a scan
	CHECK(near_ns < 2000000); // generous: a shared 2-vCPU machine
}
