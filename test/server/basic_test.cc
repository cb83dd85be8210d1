// SPDX-License-Identifier: BSD-3-Clause
// Mount, create, lookup, write, read, readdir, statfs: the first end-to-end
// path through the runtime.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace ztest;

TEST_CASE("mount a new image and see the root", "[server][mount]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	REQUIRE(fs.root);
	CHECK(fs.root.zi->i_ino == 1);
	CHECK(S_ISDIR(fs.root.zi->i_mode));
	CHECK(fs.root.zi->i_nlink == 2);
	struct statfs64 st;
	REQUIRE(fs.statfs(&st) == 0);
	CHECK(st.f_bsize == 4096);
	CHECK(st.f_namelen == 255);
	CHECK(st.f_bfree > 0);
	CHECK(st.f_files == (64ULL << 20) / 16384);
}

TEST_CASE("create, write, read back, readdir", "[server][basic]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode f;
	REQUIRE(fs.create(fs.root, "hello", S_IFREG | 0644, &f) == 0);
	CHECK(f.zi->i_nlink == 1);
	CHECK(f.zi->i_uid == 1000);
	CHECK(fs.create(fs.root, "hello", S_IFREG | 0644) == -EEXIST);
	REQUIRE(fs.write(f, 0, "hello world") == 0);
	CHECK(f.zi->i_size == 11);
	CHECK(f.zi->i_blocks == 8);
	CHECK(fs.read(f, 0, 100) == "hello world");
	CHECK(fs.read(f, 6, 5) == "world");
	CHECK(fs.read(f, 11, 5) == "");

	Inode g;
	REQUIRE(fs.lookup(fs.root, "hello", &g) == 0);
	CHECK(g.ii == f.ii);
	CHECK(fs.lookup(fs.root, "nope") == -ENOENT);

	auto ents = fs.readdir(fs.root);
	REQUIRE(ents.size() == 3);
	CHECK(ents[0].name == ".");
	CHECK(ents[0].pos == 1);
	CHECK(ents[1].name == "..");
	CHECK(ents[1].pos == 2);
	CHECK(ents[2].name == "hello");
	CHECK(ents[2].ino == f.zi->i_ino);
	CHECK(ents[2].type == DT_REG);
	fs.evict(f);
	fs.evict(g);
}
