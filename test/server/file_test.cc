// SPDX-License-Identifier: BSD-3-Clause
// READ/WRITE/SETATTR through the ABI: holes, unaligned offsets, page
// offsets, growing and shrinking, persistence.
#include <linux/stat.h>

#include <catch2/catch.hpp>

#include "harness.h"

using namespace ztest;

TEST_CASE("holes read as zeros and are filled by writes", "[server][rw]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "sparse", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 1 << 20, "end") == 0);
	CHECK(f.zi->i_size == (1 << 20) + 3);
	CHECK(f.zi->i_blocks >= 8);
	CHECK(same(fs.read(f, 0, 8192), std::string(8192, '\0')));
	CHECK(same(fs.read(f, (1 << 20) - 2, 10),
		   std::string(2, '\0') + "end"));

	// Filling a hole below EOF reports the pages whose backing changed.
	zufs_ioc_IO io{};
	REQUIRE(fs.write(f, 5000, "xy", 0, 0, &io) == 0);
	CHECK(io.wr_unmap.offset == 1);
	CHECK(io.wr_unmap.len == 1);
	REQUIRE(fs.write(f, 5002, "z", 0, 0, &io) == 0);
	CHECK(io.wr_unmap.len == 0); // an overwrite
	CHECK(same(fs.read(f, 4096, 4096),
		   std::string(904, '\0') + "xyz" +
			   std::string(4096 - 907, '\0')));
	fs.evict(f);
}

TEST_CASE("unaligned writes across pages and blocks", "[server][rw]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	std::string model;
	auto apply = [&](uint64_t pos, const std::string &d) {
		if (model.size() < pos + d.size())
			model.resize(pos + d.size(), '\0');
		model.replace(pos, d.size(), d);
	};
	struct Case {
		uint64_t pos;
		size_t len;
		uint32_t pgoff;
	} cases[] = { { 0, 1, 0 },	    { 1, 4095, 1 },
		      { 4095, 2, 4095 },    { 10000, 70000, 123 },
		      { 3, 3 << 20, 4000 }, { 7 << 20, 4096, 0 },
		      { 65536, 1, 17 } };
	unsigned seed = 1;
	for (auto c : cases) {
		std::string d = pattern(c.len, seed++);
		REQUIRE(fs.write(f, c.pos, d, c.pgoff) == 0);
		apply(c.pos, d);
		CHECK(f.zi->i_size == model.size());
	}
	CHECK(same(fs.read(f, 0, model.size()), model));
	CHECK(same(fs.read(f, 4000, 300000, 2222), model.substr(4000, 300000)));
	CHECK(same(fs.read(f, model.size() - 10, 4096, 4090),
		   model.substr(model.size() - 10)));

	REQUIRE(fs.remount() == 0);
	Inode g;
	REQUIRE(fs.lookup(fs.root, "f", &g) == 0);
	CHECK(g.zi->i_size == model.size());
	CHECK(same(fs.read(g, 0, model.size()), model));
	{
		auto r = fs.check();
		INFO(r.report);
		CHECK(r.errors == 0);
	}
}

TEST_CASE("a 4 MiB write is one request and larger ones are refused",
	  "[server][rw]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "big", S_IFREG | 0644, &f) == 0);
	std::string d = pattern(ZUS_API_MAP_MAX_SIZE, 9);
	REQUIRE(fs.write(f, 12345, d, 77) == 0);
	CHECK(same(fs.read(f, 12345, d.size()), d));
	Buf b(ZUS_API_MAP_MAX_SIZE + 1);
	CHECK(fs.io(ZUFS_OP_WRITE, f, 0, b) == -EINVAL);
	// Pages that do not cover offset + len.
	Buf small(100);
	zufs_ioc_IO io{};
	io.hdr.operation = ZUFS_OP_WRITE;
	io.hdr.len = 8192;
	io.zus_ii = f.ii;
	CHECK(fs.dispatch(&io.hdr, sizeof(io), small.list()) == -EINVAL);
}

TEST_CASE("truncate shrinks, zeroes the tail and grows with zeros",
	  "[server][rw]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "t", S_IFREG | 0644, &f) == 0);
	std::string d = pattern(3 << 20, 3);
	REQUIRE(fs.write(f, 0, d) == 0);
	struct statfs64 before, after;
	fs.statfs(&before);

	zufs_ioc_attr a;
	REQUIRE(fs.setattr(f, STATX_SIZE, 5000, 0, &a) == 0);
	CHECK(a.unmap_offset == 5000);
	CHECK(a.unmap_len == ~0ULL);
	CHECK(f.zi->i_size == 5000);
	CHECK(f.zi->i_blocks ==
	      2 * 8); // 2 data blocks (radix nodes not counted)
	fs.statfs(&after);
	CHECK(after.f_bfree > before.f_bfree + 700);

	REQUIRE(fs.setattr(f, STATX_SIZE, 20000, 0, &a) == 0);
	CHECK(a.unmap_len == 0);
	CHECK(same(fs.read(f, 0, 20000),
		   d.substr(0, 5000) + std::string(15000, '\0')));
	REQUIRE(fs.write(f, 30000, "q") == 0);
	CHECK(same(fs.read(f, 0, 30001),
		   d.substr(0, 5000) + std::string(25000, '\0') + "q"));

	REQUIRE(fs.setattr(f, STATX_SIZE, 0) == 0);
	CHECK(f.zi->i_blocks == 0);
	CHECK(f.zi->i_on_disk.a[0] == 0);
	CHECK(same(fs.read(f, 0, 10), ""));

	REQUIRE(fs.setattr(f, STATX_MODE, 0, 0600) == 0);
	CHECK(f.zi->i_mode == (S_IFREG | 0600));
	fs.evict(f);
	CHECK(fs.setattr(fs.root, STATX_SIZE, 0) == -EISDIR);
}

TEST_CASE("DSYNC writes and SYNC succeed; reads of a directory fail",
	  "[server][rw]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "s", S_IFREG | 0644, &f) == 0);
	REQUIRE(fs.write(f, 0, "durable", 0, ZUFS_IO_DSYNC) == 0);
	CHECK(fs.sync(f) == 0);
	CHECK(fs.sync(Inode{}) == 0);
	int err;
	fs.read(fs.root, 0, 10, 0, &err);
	CHECK(err == -EISDIR);
	fs.evict(f);
}
