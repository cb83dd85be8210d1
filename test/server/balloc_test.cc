// SPDX-License-Identifier: BSD-3-Clause
// Block and inode allocation: fill, ENOSPC, space comes back (also after a
// remount, when the allocator is rebuilt from the bitmap).
#include <linux/stat.h>

#include <catch2/catch.hpp>

#include "harness.h"

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
	CHECK(full.f_bfree == 0);
	CHECK(same(fs.read(f, got - 4096, 4096), chunk.substr((got - 4096) % chunk.size(), 4096)));

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
		REQUIRE(fs.create(fs.root, "i" + std::to_string(i), S_IFREG | 0644) == 0);
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
