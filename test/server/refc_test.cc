// SPDX-License-Identifier: BSD-3-Clause
// COPY shares whole blocks copy-on-write (server/pmfs/refc.h): sharing,
// writes/truncation/punching of either file, freeing, saturation of the
// share count, persistence; the image checks clean (counts = owners - 1)
// after every step.
#include <linux/falloc.h>
#include <linux/stat.h>
#include <sys/statfs.h>

#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "harness.h"
#include "server/pmfs/layout.h"

using namespace ztest;

namespace {

uint64_t bfree(Fs &fs)
{
	struct statfs64 st {};
	REQUIRE(fs.statfs(&st) == 0);
	return st.f_bfree;
}

void clean(Fs &fs)
{
	auto r = fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

void gone(Fs &fs, Inode f, const std::string &name)
{
	REQUIRE(fs.unlink(fs.root, name) == 0);
	fs.evict(f, 0, ZUFS_OP_FREE_INODE);
}

} // namespace

TEST_CASE("COPY shares whole blocks; both files stay independent",
	  "[server][refc]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	const uint64_t size = (4 << 20) + 1000; // 1024 whole blocks + a tail
	const uint64_t empty = bfree(fs);
	std::string d = pattern(size, 11);
	for (uint64_t at = 0; at < size; at += 1 << 20)
		REQUIRE(fs.write(a, at, d.substr(at, 1 << 20)) == 0);
	const uint64_t free0 = bfree(fs);

	uint64_t copied;
	REQUIRE(fs.copy(a, 0, b, 0, size, &copied) == 0);
	CHECK(copied == size);
	CHECK(b.zi->i_size == size);
	CHECK(b.zi->i_blocks ==
	      a.zi->i_blocks);	      // each counts its shared blocks
	CHECK(free0 - bfree(fs) < 8); // the tail block and a few nodes
	CHECK(same(fs.read(b, 0, size), d));
	clean(fs);

	// A write into b copies the block: a keeps its bytes.
	zufs_ioc_IO out{};
	REQUIRE(fs.write(b, 5000, "BBBB", 0, 0, &out) == 0);
	CHECK(out.wr_unmap.offset == 1);
	CHECK(out.wr_unmap.len == 1);
	std::string db = d;
	db.replace(5000, 4, "BBBB");
	CHECK(same(fs.read(a, 0, size), d));
	CHECK(same(fs.read(b, 0, size), db));
	clean(fs);
	// And one into a: b keeps its bytes.
	REQUIRE(fs.write(a, 3 * 4096 + 7, "AAAA") == 0);
	d.replace(3 * 4096 + 7, 4, "AAAA");
	CHECK(same(fs.read(a, 0, size), d));
	CHECK(same(fs.read(b, 0, size), db));
	clean(fs);

	// Truncate b to the middle of a shared block; punch a hole in a.
	REQUIRE(fs.setattr(b, STATX_SIZE, 100 * 4096 + 10) == 0);
	db.resize(100 * 4096 + 10);
	CHECK(same(fs.read(a, 0, size), d));
	CHECK(same(fs.read(b, 0, db.size()), db));
	clean(fs);
	REQUIRE(fs.falloc(a, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			  50 * 4096 + 100, 10 * 4096) == 0);
	std::fill(d.begin() + 50 * 4096 + 100, d.begin() + 60 * 4096 + 100,
		  '\0');
	CHECK(same(fs.read(a, 0, size), d));
	CHECK(same(fs.read(b, 0, db.size()), db));
	clean(fs);
	// Grow b back: the tail past the old size reads as zeros, a intact.
	REQUIRE(fs.setattr(b, STATX_SIZE, 101 * 4096) == 0);
	db.resize(101 * 4096, '\0');
	CHECK(same(fs.read(b, 0, db.size()), db));
	CHECK(same(fs.read(a, 0, size), d));

	// Persistent: after a remount both files read the same.
	REQUIRE(fs.remount() == 0);
	REQUIRE(fs.lookup(fs.root, "a", &a) == 0);
	REQUIRE(fs.lookup(fs.root, "b", &b) == 0);
	CHECK(same(fs.read(a, 0, size), d));
	CHECK(same(fs.read(b, 0, db.size()), db));
	clean(fs);

	// Unlink a: b keeps its data; then b: every block is free again.
	gone(fs, a, "a");
	CHECK(same(fs.read(b, 0, db.size()), db));
	clean(fs);
	gone(fs, b, "b");
	clean(fs);
	CHECK(bfree(fs) == empty); // every block back
}

TEST_CASE("COPY: misaligned ranges copy, aligned ones share around the edges",
	  "[server][refc]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b, c;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	REQUIRE(fs.create(fs.root, "c", S_IFREG | 0644, &c) == 0);
	std::string d = pattern(64 * 4096, 3);
	REQUIRE(fs.write(a, 0, d) == 0);
	REQUIRE(fs.write(b, 0, pattern(80 * 4096, 4)) ==
		0); // b's old blocks go
	std::string db = fs.read(b, 0, 80 * 4096);
	uint64_t free0 = bfree(fs), copied;
	// Same offset in a block (100): blocks 1..62 shared, the edges copied.
	REQUIRE(fs.copy(a, 100, b, 4 * 4096 + 100, 63 * 4096, &copied) == 0);
	CHECK(copied == 63 * 4096);
	db.replace(4 * 4096 + 100, 63 * 4096, d.substr(100, 63 * 4096));
	CHECK(same(fs.read(b, 0, db.size()), db));
	CHECK(bfree(fs) >= free0 + 60); // b's replaced blocks were freed
	clean(fs);
	// Misaligned: copied, no sharing.
	free0 = bfree(fs);
	REQUIRE(fs.copy(a, 0, c, 1, 64 * 4096, &copied) == 0);
	CHECK(copied == 64 * 4096);
	CHECK(free0 - bfree(fs) >= 65);
	CHECK(same(fs.read(c, 1, 64 * 4096), d));
	clean(fs);
	// Copy back over the same blocks (already shared there): no change.
	REQUIRE(fs.copy(a, 4096, b, 5 * 4096, 8 * 4096, &copied) == 0);
	CHECK(same(fs.read(b, 0, db.size()), db));
	clean(fs);
	gone(fs, a, "a");
	gone(fs, b, "b");
	gone(fs, c, "c");
	clean(fs);
}

TEST_CASE("COPY: a share count saturates, then blocks are copied",
	  "[server][refc]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	std::string d = pattern(4096, 9);
	REQUIRE(fs.write(a, 0, d) == 0);
	const uint64_t free0 = bfree(fs);
	uint64_t copied;
	// 300 copies of block 0 into the same file (ranges do not overlap).
	for (uint64_t k = 1; k <= 300; ++k) {
		REQUIRE(fs.copy(a, 0, a, k * 4096, 4096, &copied) == 0);
		REQUIRE(copied == 4096);
	}
	clean(fs);
	// 255 shares (kRefcMax), 45 real copies, plus the tree's nodes.
	const uint64_t used = free0 - bfree(fs);
	CHECK(used >= 45);
	CHECK(used <= 45 + 4);
	for (uint64_t k = 0; k <= 300; k += 37)
		CHECK(same(fs.read(a, k * 4096, 4096), d));
	// Write into a shared one and a copied one; the rest stay.
	REQUIRE(fs.write(a, 7 * 4096, "x") == 0);
	REQUIRE(fs.write(a, 290 * 4096, "y") == 0);
	CHECK(fs.read(a, 7 * 4096, 1) == "x");
	CHECK(fs.read(a, 290 * 4096, 1) == "y");
	CHECK(same(fs.read(a, 8 * 4096, 4096), d));
	CHECK(same(fs.read(a, 0, 4096), d));
	clean(fs);
	// Shrink to block 0: every share goes, block 0 is unshared again.
	REQUIRE(fs.setattr(a, STATX_SIZE, 4096) == 0);
	clean(fs);
	CHECK(free0 - bfree(fs) <= 1);	   // the tree's root node may stay
	REQUIRE(fs.write(a, 0, "z") == 0); // in place now
	gone(fs, a, "a");
	clean(fs);
}

TEST_CASE("COPY: a shared block a GET_MULTY pinned stays until its PUT",
	  "[server][refc][multy]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	std::string d = pattern(4 * 4096, 5);
	REQUIRE(fs.write(a, 0, d) == 0);
	uint64_t copied;
	REQUIRE(fs.copy(a, 0, b, 0, d.size(), &copied) == 0);

	// a's zero-copy read pins its 4 (shared) blocks.
	Multy m(4);
	REQUIRE(m.call(fs, ZUFS_OP_GET_MULTY, a, 0, 4 * 4096) == 0);
	REQUIRE(m.io->ziom.iom_n == 4);
	const uint64_t pinned = m.bn(0);

	// a drops its share of every block (truncate), then b, their last
	// owner, goes: the blocks stay out of the allocator until the PUT.
	const uint64_t before = bfree(fs);
	REQUIRE(fs.setattr(a, STATX_SIZE, 0) == 0);
	CHECK(bfree(fs) == before); // only counts changed
	gone(fs, b, "b");
	CHECK(bfree(fs) ==
	      before + 1); // b's tree node; the data is held by a's pin
	CHECK(same(std::string(fs.base + pinned * 4096, 4096),
		   d.substr(0, 4096)));
	clean(fs);
	REQUIRE(m.call(fs, ZUFS_OP_PUT_MULTY, a, 0, 0) == 0);
	CHECK(bfree(fs) >= before + 4);
	clean(fs);
	gone(fs, a, "a");
	clean(fs);
}

TEST_CASE("fsck: share counts must be owners - 1; repair sets them",
	  "[server][refc]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	REQUIRE(fs.write(a, 0, pattern(3 * 4096, 2)) == 0);
	uint64_t copied;
	REQUIRE(fs.copy(a, 0, b, 0, 3 * 4096, &copied) == 0);
	clean(fs);
	// The image is quiescent: damage two counts, check, repair, check.
	auto *sb = reinterpret_cast<const zus::pmfs::pmfs_super *>(fs.base);
	auto *rc = reinterpret_cast<uint8_t *>(fs.base + sb->s_refc_blk * 4096);
	uint64_t shared_bn = 0, free_bn = 0;
	for (uint64_t bn = sb->s_data_blk; bn < sb->s_nblocks && !shared_bn;
	     ++bn)
		if (rc[bn] == 1)
			shared_bn = bn;
	REQUIRE(shared_bn);
	free_bn = sb->s_nblocks - 1; // unused on a fresh 64 MiB image
	rc[shared_bn] = 0;
	rc[free_bn] = 3;
	auto r = fs.check();
	CHECK(r.errors == 2);
	CHECK(r.report.find("share count 0, 2 owners") != std::string::npos);
	CHECK(r.report.find("share count 3, 1 owner") != std::string::npos);
	auto fixed = zus::pmfs::repair_mapping(fs.base, fs.pool_size);
	CHECK(fixed.fixed == 2);
	CHECK(rc[shared_bn] == 1);
	CHECK(rc[free_bn] == 0);
	clean(fs);
	gone(fs, a, "a");
	gone(fs, b, "b");
	clean(fs);
}

TEST_CASE("COPY: a large write over shared blocks copies them in batches",
	  "[server][refc]")
{
	Fs fs;
	REQUIRE(fs.mount() == 0);
	Inode a, b;
	REQUIRE(fs.create(fs.root, "a", S_IFREG | 0644, &a) == 0);
	REQUIRE(fs.create(fs.root, "b", S_IFREG | 0644, &b) == 0);
	const uint64_t size = 3 << 20;
	std::string d = pattern(size, 21);
	for (uint64_t at = 0; at < size; at += 1 << 20)
		REQUIRE(fs.write(a, at, d.substr(at, 1 << 20)) == 0);
	uint64_t copied;
	REQUIRE(fs.copy(a, 0, b, 0, size, &copied) == 0);
	const uint64_t free0 = bfree(fs);
	// 2 MiB + a bit into b, from the middle of block 10: blocks 10..522 copied.
	std::string w = pattern((2 << 20) + 100, 22);
	zufs_ioc_IO out{};
	REQUIRE(fs.write(b, 10 * 4096 + 50, w, 0, 0, &out) == 0);
	CHECK(out.wr_unmap.offset == 10);
	CHECK(out.wr_unmap.len == 513);
	CHECK(free0 - bfree(fs) == 513);
	std::string db = d;
	db.replace(10 * 4096 + 50, w.size(), w);
	CHECK(same(fs.read(a, 0, size), d));
	CHECK(same(fs.read(b, 0, size), db));
	CHECK(b.zi->i_blocks == a.zi->i_blocks);
	clean(fs);
	gone(fs, a, "a");
	CHECK(same(fs.read(b, 0, size), db));
	clean(fs);
	gone(fs, b, "b");
	clean(fs);
}

TEST_CASE("COPY: concurrent copies, writes and truncations keep counts exact",
	  "[server][refc][mt]")
{
	Fs fs(128ULL << 20);
	REQUIRE(fs.mount() == 0);
	constexpr int kFiles = 4;
	Inode f[kFiles];
	for (int i = 0; i < kFiles; ++i) {
		REQUIRE(fs.create(fs.root, "f" + std::to_string(i),
				  S_IFREG | 0644, &f[i]) == 0);
		REQUIRE(fs.write(f[i], 0, pattern(256 * 4096, 40 + i)) == 0);
	}
	const uint64_t empty_ish = bfree(fs);
	std::atomic<int> errors{ 0 };
	auto worker = [&](int t) {
		unsigned seed = 77 + t;
		for (int it = 0; it < 1000; ++it) {
			seed = seed * 1103515245 + 12345;
			const int a = (seed >> 8) % kFiles,
				  b = (seed >> 12) % kFiles;
			const uint64_t blk = (seed >> 16) % 200;
			uint64_t copied;
			int err = 0;
			switch ((seed >> 4) % 4) {
			case 0:
			case 1:
				if (a != b)
					err = fs.copy(f[a], blk * 4096, f[b],
						      ((seed >> 20) % 200) *
							      4096,
						      32 * 4096, &copied);
				break;
			case 2:
				err = fs.write(f[a], blk * 4096 + 100,
					       pattern(3 * 4096, seed));
				break;
			case 3:
				err = fs.setattr(f[a], STATX_SIZE,
						 (blk + 20) * 4096 + 7);
				break;
			}
			if (err)
				++errors;
		}
	};
	std::vector<std::thread> ts;
	for (int t = 0; t < 4; ++t)
		ts.emplace_back(worker, t);
	for (auto &t : ts)
		t.join();
	CHECK(errors == 0);
	clean(fs);
	auto *sb = reinterpret_cast<const zus::pmfs::pmfs_super *>(fs.base);
	auto *rc = reinterpret_cast<const uint8_t *>(fs.base +
						     sb->s_refc_blk * 4096);
	uint64_t shared = 0;
	for (uint64_t bn = sb->s_data_blk; bn < sb->s_nblocks; ++bn)
		shared += rc[bn] != 0;
	CHECK(shared > 0); // some sharing survived
	for (int i = 0; i < kFiles; ++i)
		gone(fs, f[i], "f" + std::to_string(i));
	clean(fs);
	CHECK(bfree(fs) >= empty_ish + 4 * 256);
}
