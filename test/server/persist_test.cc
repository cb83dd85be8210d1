// SPDX-License-Identifier: BSD-3-Clause
// The persistence module: every flush/drain is observable (the crash
// harness hook), and a transaction costs a few drains, not one per store.
#include <linux/stat.h>

#include <atomic>
#include <catch2/catch.hpp>

#include "harness.h"
#include "server/persist.h"

using namespace ztest;

namespace {

std::atomic<int> g_drains, g_flushes, g_stores;

void count(zus::PersistEvent ev, const void *, size_t)
{
	switch (ev) {
	case zus::PersistEvent::DRAIN:
		++g_drains;
		break;
	case zus::PersistEvent::FLUSH:
		++g_flushes;
		break;
	case zus::PersistEvent::STORE:
		++g_stores;
		break;
	default:
		break;
	}
}

struct Counting {
	Counting()
	{
		g_drains = g_flushes = g_stores = 0;
		zus::set_persist_hook(count);
	}
	~Counting() { zus::set_persist_hook(nullptr); }
};

} // namespace

TEST_CASE("the hook sees stores, flushes and drains; drains per op are few",
	  "[server][persist]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "first", S_IFREG | 0644, &f) == 0);
	{
		Counting c;
		REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644) == 0);
		CHECK(g_drains == 3); // log, modifications, commit
		CHECK(g_flushes > 0);
	}
	{
		Counting c;
		REQUIRE(fs.write(f, 0, pattern(64 * 4096, 1)) == 0); // 64 new blocks
		CHECK(g_drains == 3);
		CHECK(g_stores >= 64);
	}
	{
		Counting c;
		REQUIRE(fs.write(f, 4096, pattern(8192, 2)) == 0); // overwrite
		CHECK(g_drains <= 1);
		CHECK(g_stores >= 1);
	}
	{
		Counting c;
		REQUIRE(fs.write(f, 4096, pattern(8192, 3), 0, ZUFS_IO_DSYNC) == 0);
		CHECK(g_drains == 1);
	}
	fs.evict(f);
}

#include "server/crc32c.h"

TEST_CASE("crc32c matches the standard check value", "[server][persist]")
{
	const char *s = "123456789";
	CHECK(zus::crc32c(0, s, 9) == 0xE3069283u);
	// Chaining equals one pass.
	CHECK(zus::crc32c(zus::crc32c(0, s, 4), s + 4, 5) == 0xE3069283u);
	std::string big = ztest::pattern(1001, 3);
	CHECK(zus::crc32c(zus::crc32c(0, big.data(), 17), big.data() + 17, 984) ==
	      zus::crc32c(0, big.data(), 1001));
}
