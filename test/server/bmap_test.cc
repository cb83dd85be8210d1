// SPDX-License-Identifier: BSD-3-Clause
//
// bmap_test - pmfs's block map (server/pmfs/bmap.cc) on a mounted image:
// the radix tree grows one level at a time as a file's blocks reach further,
// lookups find every block at every height (and 0 for holes and past the
// tree), seek walks data and holes, truncate frees data and index blocks
// within its budget and shrinks the tree to nothing, punch frees data only,
// an aborted transaction changes nothing, and the node arithmetic statfs
// uses is exact.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "harness.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/pmfs.h"

using zus::pmfs::BmapTx;
using zus::pmfs::kFanout;
using zus::pmfs::kMaxFileBlocks;
using zus::pmfs::Tx;

namespace {

constexpr uint64_t kBlk = 4096;

struct File {
	ztest::Fs fs;
	ztest::Inode f;

	File()
	{
		REQUIRE(fs.mount() == 0);
		REQUIRE(fs.create(fs.root, "f", S_IFREG | 0644, &f) == 0);
	}
	~File() { fs.evict(f); }

	zus_sb_info &sbi() { return *fs.sbi; }
	uint64_t height() const { return f.zi->i_on_disk.a[1]; }
	uint64_t root() const { return f.zi->i_on_disk.a[0]; }
	uint64_t lookup(uint64_t idx)
	{
		return zus::pmfs::bmap_lookup(sbi(), f.zi, idx);
	}
	uint64_t free_blocks() { return sbi().balloc.free_blocks(); }

	// One block of file data at block idx, through WRITE.
	std::string put(uint64_t idx)
	{
		std::string data =
			ztest::pattern(kBlk, unsigned(idx % 1000003));
		REQUIRE(fs.write(f, idx * kBlk, data) == 0);
		return data;
	}
	// The pmem block of idx holds data.
	bool holds(uint64_t idx, const std::string &data)
	{
		uint64_t bn = lookup(idx);
		return bn && std::memcmp(sbi().blk(bn), data.data(), kBlk) == 0;
	}

	// One transaction on the tree, as file.cc runs them: zi logged, fn
	// changes the tree, then close and commit (or, !commit, the Tx is
	// dropped: an abort).
	template <class Fn> int tree_tx(Fn fn, bool commit = true)
	{
		std::unique_lock lk(f.ii->rw);
		Tx tx(sbi());
		int err = tx.log(f.zi, sizeof(*f.zi));
		if (err)
			return err;
		BmapTx bt(sbi(), tx, f.zi);
		bt.owner = f.ii;
		if ((err = fn(bt)) || !commit)
			return err;
		if ((err = bt.close(f.zi)))
			return err;
		return tx.commit(f.ii);
	}
};

} // namespace

TEST_CASE("bmap: the tree grows a level at a time; lookups find every block "
	  "at every height",
	  "[bmap]")
{
	File t;
	CHECK(t.root() == 0);
	CHECK(t.lookup(0) == 0);

	// Height 0: the root is the data block itself.
	std::vector<std::pair<uint64_t, std::string>> blocks;
	blocks.push_back({ 0, t.put(0) });
	CHECK(t.height() == 0);
	CHECK(t.root() == t.lookup(0));
	CHECK(t.holds(0, blocks[0].second));
	CHECK(t.lookup(1) == 0);

	// Each index past what the tree covers adds one level: the old root
	// becomes slot 0 of the new one, so what was there stays found.
	const struct {
		uint64_t idx;
		uint64_t height;
	} steps[] = {
		{ 1, 1 },
		{ kFanout - 1, 1 },
		{ kFanout, 2 },
		{ kFanout * kFanout + 3, 3 },
		{ kFanout * kFanout * kFanout, 4 },
		{ kMaxFileBlocks - 1, 4 },
	};
	for (const auto &s : steps) {
		INFO("block " << s.idx);
		blocks.push_back({ s.idx, t.put(s.idx) });
		CHECK(t.height() == s.height);
		for (const auto &[idx, data] : blocks) {
			INFO("looking up " << idx);
			CHECK(t.holds(idx, data));
			CHECK(zus::pmfs::bmap_leaf(t.sbi(), t.f.zi, idx) ==
			      t.lookup(idx));
		}
	}
	// Holes at every level, and past what the tree maps.
	for (uint64_t hole :
	     { uint64_t(2), kFanout + 1, kFanout * kFanout,
	       kFanout * kFanout + 2, kFanout * kFanout * kFanout + 1,
	       kMaxFileBlocks - 2, kMaxFileBlocks, ~uint64_t(0) }) {
		INFO("hole " << hole);
		CHECK(t.lookup(hole) == 0);
	}
	// The last block a file can have, and no further.
	ztest::Buf b(kBlk);
	uint64_t last = 0;
	CHECK(t.fs.io(ZUFS_OP_WRITE, t.f, kMaxFileBlocks * kBlk, b, &last) ==
	      -EFBIG);
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

TEST_CASE("bmap: seek finds data and holes across levels", "[bmap]")
{
	File t;
	for (uint64_t idx : { uint64_t(3), uint64_t(4), kFanout * 2 + 7 })
		t.put(idx);
	REQUIRE(t.height() == 2);
	auto seek = [&](uint64_t from, bool data) {
		return zus::pmfs::bmap_seek(t.sbi(), t.f.zi, from, data);
	};
	CHECK(seek(0, true) == 3);
	CHECK(seek(0, false) == 0);
	CHECK(seek(3, false) == 5);
	CHECK(seek(5, true) == kFanout * 2 + 7); // skips an empty subtree
	CHECK(seek(kFanout * 2 + 7, false) == kFanout * 2 + 8);
	CHECK(seek(kFanout * 2 + 8, true) == UINT64_MAX);
	// Past the tree: a hole where it is, no data.
	CHECK(seek(kFanout * kFanout, false) == kFanout * kFanout);
	CHECK(seek(kFanout * kFanout, true) == UINT64_MAX);
}

TEST_CASE("bmap: truncate frees data and index blocks within its budget, "
	  "down to an empty tree",
	  "[bmap]")
{
	File t;
	const uint64_t free0 = t.free_blocks();
	const uint64_t idxs[] = { 0,	   1,		2,
				  kFanout, kFanout + 1, kFanout * kFanout };
	for (uint64_t idx : idxs)
		t.put(idx);
	REQUIRE(t.height() == 3);
	// 6 data blocks; nodes: the root, two level-2 and three level-1.
	const uint64_t used = free0 - t.free_blocks();
	CHECK(used == 6 + 1 + 2 + 3);
	CHECK(t.f.zi->i_blocks == 6 * (kBlk / 512));

	// From kFanout, one block per step: kFanout's leaf first.
	bool done = true;
	REQUIRE(t.tree_tx([&](BmapTx &bt) {
		return bt.truncate(kFanout, 1, &done);
	}) == 0);
	CHECK_FALSE(done);
	CHECK(t.lookup(kFanout) == 0);
	CHECK(t.lookup(kFanout + 1) != 0);
	CHECK(t.free_blocks() == free0 - used + 1);
	CHECK(t.f.zi->i_blocks == 5 * (kBlk / 512));

	// The rest past kFanout: two data blocks and the nodes of their
	// subtrees (two level-1, one level-2); 0..2 and their nodes stay.
	REQUIRE(t.tree_tx([&](BmapTx &bt) {
		return bt.truncate(kFanout, 100, &done);
	}) == 0);
	CHECK(done);
	CHECK(t.lookup(kFanout + 1) == 0);
	CHECK(t.lookup(kFanout * kFanout) == 0);
	for (uint64_t idx : { 0, 1, 2 })
		CHECK(t.lookup(idx) != 0);
	CHECK(t.free_blocks() == free0 - (3 + 3));
	CHECK(t.f.zi->i_blocks == 3 * (kBlk / 512));

	// Everything: the tree is gone, every block is back.
	REQUIRE(t.tree_tx([&](BmapTx &bt) {
		return bt.truncate(0, 100, &done);
	}) == 0);
	CHECK(done);
	CHECK(t.root() == 0);
	CHECK(t.height() == 0);
	CHECK(t.f.zi->i_blocks == 0);
	CHECK(t.free_blocks() == free0);
	for (uint64_t idx : idxs)
		CHECK(t.lookup(idx) == 0);
}

TEST_CASE("bmap: punch frees the data in its range; the nodes stay", "[bmap]")
{
	File t;
	for (uint64_t idx : { uint64_t(0), uint64_t(1), uint64_t(2), kFanout })
		t.put(idx);
	const uint64_t free1 = t.free_blocks();
	bool done = false;
	REQUIRE(t.tree_tx([&](BmapTx &bt) {
		return bt.punch(1, kFanout, 100, &done);
	}) == 0);
	CHECK(done);
	CHECK(t.lookup(0) != 0);
	CHECK(t.lookup(1) == 0);
	CHECK(t.lookup(2) == 0);
	CHECK(t.lookup(kFanout) != 0);
	CHECK(t.height() == 2);
	CHECK(t.free_blocks() == free1 + 2);
	CHECK(t.f.zi->i_blocks == 2 * (kBlk / 512));
}

TEST_CASE("bmap: an aborted transaction leaves the tree and the free count "
	  "as they were",
	  "[bmap]")
{
	File t;
	std::string d0 = t.put(0), d1 = t.put(1);
	const uint64_t root = t.root(), free1 = t.free_blocks();
	// A block far away, linked in fresh nodes (the test's own block: it
	// goes back by hand after the abort).
	const uint64_t far = t.sbi().balloc.alloc_one();
	REQUIRE(far);
	bool done = false;
	REQUIRE(t.tree_tx(
			[&](BmapTx &bt) {
		int err = bt.truncate(0, 100, &done);
		return err ? err : bt.insert(kFanout * kFanout, far);
			},
			false) == 0);
	t.sbi().balloc.release(far, 1);
	CHECK(done);
	CHECK(t.root() == root);
	CHECK(t.height() == 1);
	CHECK(t.holds(0, d0));
	CHECK(t.holds(1, d1));
	CHECK(t.lookup(kFanout * kFanout) == 0);
	CHECK(t.free_blocks() == free1);
	auto r = t.fs.check();
	INFO(r.report);
	CHECK(r.errors == 0);
}

TEST_CASE("bmap: insert and replace refuse what the tree cannot hold", "[bmap]")
{
	File t;
	t.put(0);
	REQUIRE(t.tree_tx(
			[&](BmapTx &bt) {
		CHECK(bt.insert(kMaxFileBlocks, 1) == -EFBIG);
		CHECK(bt.replace(5, 1) == -EINVAL); // not mapped
		CHECK(bt.replace(kMaxFileBlocks, 1) == -EINVAL);
		return 0;
			},
			false) == 0);
}

TEST_CASE("bmap: nodes_for and max_data, the arithmetic statfs relies on",
	  "[bmap]")
{
	using zus::pmfs::bmap_max_data;
	using zus::pmfs::bmap_nodes_for;
	CHECK(bmap_nodes_for(0) == 0);
	CHECK(bmap_nodes_for(1) == 0); // the root slot holds the block
	CHECK(bmap_nodes_for(2) == 1);
	CHECK(bmap_nodes_for(kFanout) == 1);
	CHECK(bmap_nodes_for(kFanout + 1) == 2 + 1);
	CHECK(bmap_nodes_for(kFanout * kFanout) == kFanout + 1);
	for (uint64_t free :
	     { uint64_t(1), uint64_t(2), kFanout, kFanout + 1, kFanout + 2,
	       uint64_t(1000000), uint64_t(1) << 40 }) {
		INFO("free " << free);
		uint64_t n = bmap_max_data(free);
		CHECK(n + bmap_nodes_for(n) <= free);
		CHECK(n + 1 + bmap_nodes_for(n + 1) > free);
	}
}
