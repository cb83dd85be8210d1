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
		REQUIRE(fs.write(f, 0, pattern(64 * 4096, 1)) ==
			0); // 64 new blocks
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
		REQUIRE(fs.write(f, 4096, pattern(8192, 3), 0, ZUFS_IO_DSYNC) ==
			0);
		CHECK(g_drains == 1);
	}
	fs.evict(f);
}

#include "server/crc32c.h"

TEST_CASE("crc32c matches the standard check value", "[server][persist]")
{
	// Known vectors: the CRC catalogue's check value and RFC 3720 B.4.
	std::string zeros(32, '\0'), ones(32, '\xff'), up(32, 0), down(32, 0);
	for (int i = 0; i < 32; ++i) {
		up[i] = char(i);
		down[i] = char(31 - i);
	}
	const struct {
		std::string in;
		uint32_t crc;
	} vectors[] = { { "123456789", 0xE3069283u }, { zeros, 0x8A9136AAu },
			{ ones, 0x62A8AB43u },	      { up, 0x46DD794Eu },
			{ down, 0x113FDB5Cu },	      { "", 0u } };
	using Fn = uint32_t (*)(uint32_t, const void *, size_t);
	for (Fn f : { Fn(zus::crc32c), Fn(zus::crc32c_software) }) {
		for (const auto &v : vectors) {
			INFO("input of "
			     << v.in.size() << " bytes, "
			     << (f == Fn(zus::crc32c) ? "crc32c" : "software"));
			CHECK(f(0, v.in.data(), v.in.size()) == v.crc);
		}
		// Chaining equals one pass.
		const char *s = "123456789";
		CHECK(f(f(0, s, 4), s + 4, 5) == 0xE3069283u);
	}
	std::string big = ztest::pattern(1001, 3);
	CHECK(zus::crc32c(0, big.data(), 1001) ==
	      zus::crc32c_software(0, big.data(), 1001));
}
