// SPDX-License-Identifier: BSD-3-Clause
// GET_MULTY / PUT_MULTY: the zero-copy read path and block pinning.
#include <linux/stat.h>

#include <catch2/catch.hpp>
#include <set>

#include "harness.h"

using namespace ztest;

TEST_CASE("GET_MULTY maps file pages to pmem blocks, holes to 0",
	  "[server][multy]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	std::string d = pattern(3 * 4096 + 100, 4);
	REQUIRE(fs.write(f, 0, d) == 0);
	REQUIRE(fs.setattr(f, STATX_SIZE, 6 * 4096) == 0);
	REQUIRE(fs.write(f, 5 * 4096, "tail") == 0);

	Multy m(16);
	REQUIRE(m.call(fs, ZUFS_OP_GET_MULTY, f, 100, 1 << 20) == 0);
	CHECK(m.io->last_pos == 6 * 4096);
	REQUIRE(m.io->ziom.iom_n == 6);
	for (int i = 0; i < 6; ++i)
		CHECK(_zufs_iom_opt_type(m.e() + i) == IOM_T1_READ);
	for (int i = 0; i < 4; ++i) {
		REQUIRE(m.bn(i) != 0);
		uint64_t off = m.bn(i) * 4096;
		REQUIRE(off + 4096 <= fs.pool_size);
		size_t n = std::min<size_t>(4096, d.size() - i * 4096);
		CHECK(same(std::string(fs.base + off, n),
			   d.substr(i * 4096, n)));
	}
	CHECK(m.bn(4) == 0); // hole
	CHECK(same(std::string(fs.base + m.bn(5) * 4096, 4), "tail"));
	REQUIRE(m.call(fs, ZUFS_OP_PUT_MULTY, f, 0, 0) == 0);
	CHECK(m.call(fs, ZUFS_OP_PUT_MULTY, f, 0, 0) == -EINVAL); // no GET

	// Clipped by iom_max and EOF.
	Multy small(2);
	REQUIRE(small.call(fs, ZUFS_OP_GET_MULTY, f, 4096, 1 << 20) == 0);
	CHECK(small.io->ziom.iom_n == 2);
	CHECK(small.io->last_pos == 3 * 4096);
	REQUIRE(small.call(fs, ZUFS_OP_PUT_MULTY, f, 0, 0) == 0);
	REQUIRE(small.call(fs, ZUFS_OP_GET_MULTY, f, 7 * 4096, 10) == 0);
	CHECK(small.io->ziom.iom_n == 0);
	CHECK(small.io->last_pos == 7 * 4096);
	// A message shorter than iom_max says.
	small.io->ziom.iom_max = 64;
	CHECK(small.call(fs, ZUFS_OP_GET_MULTY, f, 0, 10) == -EINVAL);
	fs.evict(f);
}

TEST_CASE("pinned blocks are not reused before PUT_MULTY", "[server][multy]")
{
	Fs fs(16ULL << 20);
	REQUIRE(fs.mount() == 0);
	Inode f, g;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.create(fs.root, "g", S_IFREG | 0644, &g) == 0);
	std::string d = pattern(64 * 4096, 8);
	REQUIRE(fs.write(f, 0, d) == 0);

	Multy m(64);
	REQUIRE(m.call(fs, ZUFS_OP_GET_MULTY, f, 0, 64 * 4096) == 0);
	REQUIRE(m.io->ziom.iom_n == 64);
	std::set<uint64_t> pinned;
	for (int i = 0; i < 64; ++i)
		pinned.insert(m.bn(i));

	REQUIRE(fs.setattr(f, STATX_SIZE, 0) == 0);
	// Fill the device: none of the pinned blocks may be handed out.
	std::string chunk = pattern(1 << 20, 9);
	uint64_t pos = 0;
	while (fs.write(g, pos, chunk) == 0)
		pos += chunk.size();
	for (int i = 0; i < 64; ++i)
		CHECK(same(std::string(fs.base + m.bn(i) * 4096, 4096),
			   d.substr(i * 4096, 4096)));
	Multy gm(1024);
	uint64_t hits = 0;
	for (uint64_t p = 0; p < pos; p += 1024 * 4096) {
		REQUIRE(gm.call(fs, ZUFS_OP_GET_MULTY, g, p, 1024 * 4096) == 0);
		for (uint32_t i = 0; i < gm.io->ziom.iom_n; ++i)
			hits += pinned.count(gm.bn(i));
		REQUIRE(gm.call(fs, ZUFS_OP_PUT_MULTY, g, 0, 0) == 0);
	}
	CHECK(hits == 0);

	// After PUT the blocks come back.
	struct statfs64 st0, st1;
	fs.statfs(&st0);
	REQUIRE(m.call(fs, ZUFS_OP_PUT_MULTY, f, 0, 0) == 0);
	fs.statfs(&st1);
	CHECK(st1.f_bfree == st0.f_bfree + 65); // 64 data blocks and their leaf
	fs.evict(f);
	fs.evict(g);
}
