// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/bmap.h"

#include <algorithm>
#include <cerrno>

#include "fault/guard.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/refc.h"
#include "server/pmfs/tier.h"

namespace zus::pmfs {

namespace {

inline uint32_t height_for(uint64_t idx)
{
	uint32_t h = 0;
	while (h < kMaxHeight && (idx >> (kFanoutShift * h)) != 0)
		++h;
	return h;
}

inline uint32_t slot_at(uint64_t idx, uint32_t lvl)
{
	return (idx >> (kFanoutShift * (lvl - 1))) & (kFanout - 1);
}

} // namespace

uint64_t bmap_nodes_for(uint64_t n)
{
	if (n <= 1) // height 0: the root slot holds the block itself
		return 0;
	uint64_t nodes = 0;
	for (uint64_t level = n; level > 1;) {
		level = (level + kFanout - 1) >> kFanoutShift;
		nodes += level;
	}
	return nodes;
}

uint64_t bmap_max_data(uint64_t free)
{
	// n + nodes(n) grows by 1 or a little more per block: start from
	// the estimate n = free * 512 / 513 and step to the exact answer.
	uint64_t n = free - free / (kFanout + 1);
	while (n > 0 && n + bmap_nodes_for(n) > free)
		--n;
	while (n + 1 + bmap_nodes_for(n + 1) <= free)
		++n;
	return n;
}

namespace {

// The raw leaf of file block idx (kUnwrittenLeaf kept), unchecked; 0 when
// the path to it is a hole or corrupt.
uint64_t raw_leaf(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx)
{
	uint64_t node = zi->i_on_disk.a[0];
	uint64_t h = zi->i_on_disk.a[1];
	if (h == 0)
		return idx == 0 ? node : 0;
	if (h > kMaxHeight || (idx >> (kFanoutShift * h)) != 0)
		return 0;
	for (uint32_t lvl = static_cast<uint32_t>(h); lvl >= 1; --lvl) {
		if (!sbi.valid_data_bn(node)) // a hole, or a corrupt pointer
			return 0;
		node = reinterpret_cast<const uint64_t *>(
			sbi.blk(node))[slot_at(idx, lvl)];
	}
	return node;
}

} // namespace

uint64_t bmap_lookup(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx,
		     bool *unwritten)
{
	const uint64_t raw = raw_leaf(sbi, zi, idx);
	const uint64_t v = leaf_block(raw);
	const bool ok = sbi.valid_data_bn(v);
	if (unwritten)
		*unwritten = ok && (raw & kUnwrittenLeaf);
	return ok ? v : 0;
}

uint64_t bmap_leaf(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx)
{
	uint64_t v = leaf_block(raw_leaf(sbi, zi, idx));
	return sbi.valid_data_bn(v) || t2_leaf_valid(sbi, v) ? v : 0;
}

bool bmap_unwritten(const zus_sb_info &sbi, const zus_inode *zi, uint64_t idx)
{
	uint64_t v = raw_leaf(sbi, zi, idx);
	return (v & kUnwrittenLeaf) && (sbi.valid_data_bn(leaf_block(v)) ||
					t2_leaf_valid(sbi, leaf_block(v)));
}

BmapTx::BmapTx(zus_sb_info &sbi, Tx &tx, const zus_inode *zi)
    : root(zi->i_on_disk.a[0]),
      height(static_cast<uint32_t>(zi->i_on_disk.a[1])), sbi_(sbi), tx_(tx)
{
}

uint64_t *BmapTx::slots(uint64_t bn) const
{
	return reinterpret_cast<uint64_t *>(sbi_.blk(bn));
}

int BmapTx::new_node(uint64_t *bn)
{
	if (nfresh_ == kMaxFresh)
		return -ENOSPC;
	uint64_t b = sbi_.balloc.alloc_one();
	if (!b)
		return -ENOSPC;
	int err = tx_.bits(b, 1, true);
	if (err) {
		sbi_.balloc.release(b, 1);
		return err;
	}
	// Zeroed in place; flushed by finish() and made durable by ready().
	// A media fault aborts the transaction (b is released with it).
	err = zufs::fault::guarded(zufs::fault::Access::kMeta, sbi_.blk(b),
				   kBlockSize, "new index block",
				   [&] {
		sbi_.persist.memset_nodrain(sbi_.blk(b), 0, kBlockSize);
	});
	if (err)
		return err;
	fresh_[nfresh_++] = b;
	*bn = b;
	return 0;
}

bool BmapTx::is_fresh(const uint64_t *slot) const
{
	uint64_t bn = sbi_.off_of(slot) >> kBlockShift;
	for (int i = nfresh_ - 1; i >= 0; --i)
		if (fresh_[i] == bn)
			return true;
	return false;
}

uint64_t BmapTx::read(uint64_t *slot) const
{
	return is_fresh(slot) ? *slot : tx_.peek(slot);
}

int BmapTx::write(uint64_t *slot, uint64_t v)
{
	if (is_fresh(slot)) {
		*slot = v;
		return 0;
	}
	return tx_.defer_store(slot, v);
}

int BmapTx::close(zus_inode *zi, int64_t added)
{
	finish();
	if (int err = tx_.ready())
		return err;
	zi->i_on_disk.a[0] = root;
	zi->i_on_disk.a[1] = height;
	const int64_t b = int64_t(zi->i_blocks) +
			  (added + blocks_delta) * int64_t(kBlockSize / 512);
	zi->i_blocks = b < 0 ? 0 : uint64_t(b);
	return 0;
}

void BmapTx::finish()
{
	for (int i = 0; i < nfresh_; ++i)
		sbi_.persist.flush(sbi_.blk(fresh_[i]), kBlockSize);
}

int BmapTx::insert(uint64_t idx, uint64_t bn)
{
	if (idx >= kMaxFileBlocks)
		return -EFBIG;
	if (height > kMaxHeight) // a corrupt tree (found by image_mount_fuzz)
		return -EIO;
	uint32_t need = height_for(idx);
	int err;

	if (root == 0) {
		height = need;
		if (need == 0) {
			root = bn;
			return 0;
		}
	}
	while (height < need) { // grow: the old root becomes slot 0
		uint64_t n;
		if ((err = new_node(&n)))
			return err;
		slots(n)[0] = root;
		root = n;
		++height;
	}
	if (height == 0) { // idx 0 of a tree whose root is a hole
		root = bn;
		return 0;
	}
	if (root == 0 && (err = new_node(&root)))
		return err;

	// Nodes are checked before use: a corrupt pointer is -EIO, never a
	// read outside the map (found by image_mount_fuzz).
	uint64_t node = root;
	if (!sbi_.valid_data_bn(node))
		return -EIO;
	for (uint32_t lvl = height; lvl > 1; --lvl) {
		uint64_t *slot = &slots(node)[slot_at(idx, lvl)];
		uint64_t child = read(slot);
		if (!child) {
			if ((err = new_node(&child)) ||
			    (err = write(slot, child)))
				return err;
		} else if (!sbi_.valid_data_bn(child)) {
			return -EIO;
		}
		node = child;
	}
	return write(&slots(node)[slot_at(idx, 1)], bn);
}

uint64_t *BmapTx::leaf_slot(uint64_t idx)
{
	if (root == 0 || idx >= kMaxFileBlocks ||
	    (idx >> (kFanoutShift * height)) != 0)
		return nullptr;
	if (height == 0)
		return &root;
	uint64_t node = root;
	if (!sbi_.valid_data_bn(node))
		return nullptr;
	for (uint32_t lvl = height; lvl > 1; --lvl) {
		node = read(&slots(node)[slot_at(idx, lvl)]);
		if (!sbi_.valid_data_bn(node))
			return nullptr;
	}
	return &slots(node)[slot_at(idx, 1)];
}

int BmapTx::replace(uint64_t idx, uint64_t v, bool keep_unwritten)
{
	uint64_t *slot = leaf_slot(idx);
	if (!slot)
		return -EINVAL;
	if (slot == &root) {
		root = v | (keep_unwritten ? root & kUnwrittenLeaf : 0);
		return 0;
	}
	const uint64_t old = read(slot);
	if (!old)
		return -EINVAL;
	return write(slot, v | (keep_unwritten ? old & kUnwrittenLeaf : 0));
}

int BmapTx::mark_written(uint64_t idx)
{
	uint64_t *slot = leaf_slot(idx);
	if (!slot)
		return -EINVAL;
	if (slot == &root) {
		root &= ~kUnwrittenLeaf;
		return 0;
	}
	const uint64_t old = read(slot);
	if (!old)
		return -EINVAL;
	return old & kUnwrittenLeaf ? write(slot, old & ~kUnwrittenLeaf) : 0;
}

unsigned BmapTx::refc_locked_get(uint64_t bn)
{
	if (!refc_lk_.owns_lock())
		refc_lk_ = std::unique_lock(sbi_.refc_mu);
	return refc_of_word(tx_.peek(refc_word(sbi_, bn)), bn);
}

int BmapTx::refc_set(uint64_t bn, unsigned v)
{
	uint64_t *w = refc_word(sbi_, bn);
	const unsigned sh = 8 * (bn % 8);
	uint64_t nw = (tx_.peek(w) & ~(0xffULL << sh)) | (uint64_t(v) << sh);
	return tx_.defer_store(w, nw);
}

int BmapTx::share(uint64_t bn)
{
	if (!sbi_.valid_data_bn(bn))
		return -EINVAL;
	unsigned c = refc_locked_get(bn);
	if (c >= kRefcMax)
		return -EMLINK;
	return refc_set(bn, c + 1);
}

int BmapTx::free_block(uint64_t bn, bool data)
{
	if (data)
		--blocks_delta;
	if (data && t2_leaf_valid(sbi_, bn)) // a tier-2 block, at commit
		return tx_.free_t2(bn & ~kT2Leaf);
	// A shared data block loses one owner instead (refc.h). A count read
	// as 0 without the lock is exact unless this transaction itself
	// changed it (it holds the lock then).
	if (data && (refc_lk_.owns_lock() || refc_shared(sbi_, bn))) {
		unsigned c = refc_locked_get(bn);
		if (c) {
			if (owner &&
			    owner->pins.load(std::memory_order_acquire) > 0)
				sbi_.hold_block(
					owner,
					bn); // a pinned mapping may read it
			return refc_set(bn, c - 1);
		}
	}
	return tx_.bits(bn, 1, false);
}

// Free everything with index in [from, to) below node (level lvl, first
// index base). A node is freed only when its whole span is in the range.
int BmapTx::trunc_node(uint64_t node, uint32_t lvl, uint64_t base,
		       uint64_t from, uint64_t to, uint64_t &budget, bool *done)
{
	uint64_t span = 1ULL << (kFanoutShift * (lvl - 1));
	uint64_t s0 = from > base ? (from - base) / span : 0;
	int err;
	*done = false;
	for (uint64_t s = s0; s < kFanout; ++s) {
		uint64_t child_base = base + s * span;
		if (child_base >= to)
			break;
		uint64_t *slot = &slots(node)[s];
		uint64_t v = read(slot);
		if (!v)
			continue;
		if (lvl == 1)
			v = leaf_block(v);
		if (!sbi_.valid_data_bn(v) &&
		    !(lvl == 1 &&
		      t2_leaf_valid(
			      sbi_,
			      v))) { // corrupt pointer: drop it, free nothing
			if ((err = write(slot, 0)))
				return err;
			continue;
		}
		if (lvl > 1) {
			bool child_done;
			if ((err = trunc_node(v, lvl - 1, child_base, from, to,
					      budget, &child_done)))
				return err;
			if (!child_done)
				return 0;
			if (child_base < from || child_base + span > to)
				continue; // partly kept
		}
		if (budget == 0)
			return 0;
		if ((err = free_block(v, lvl == 1)) || (err = write(slot, 0)))
			return err;
		--budget;
	}
	*done = true;
	return 0;
}

int BmapTx::truncate(uint64_t from, uint64_t budget, bool *done)
{
	int err;
	*done = true;
	if (root == 0)
		return 0;
	if (height == 0) {
		if (from == 0) {
			const uint64_t v = leaf_block(root);
			if ((sbi_.valid_data_bn(v) || t2_leaf_valid(sbi_, v)) &&
			    (err = free_block(v, true)))
				return err;
			root = 0;
		}
		return 0;
	}
	if (height > kMaxHeight || !sbi_.valid_data_bn(root)) { // corrupt
		root = 0;
		height = 0;
		return 0;
	}
	if ((err = trunc_node(root, height, 0, from, UINT64_MAX, budget, done)))
		return err;
	if (*done && from == 0) {
		if (budget == 0) {
			*done = false;
			return 0;
		}
		if ((err = free_block(root, false)))
			return err;
		root = 0;
		height = 0;
	}
	return 0;
}

int BmapTx::punch(uint64_t from, uint64_t to, uint64_t budget, bool *done)
{
	*done = true;
	if (root == 0 || from >= to)
		return 0;
	if (height == 0) {
		if (from == 0) {
			int err;
			const uint64_t v = leaf_block(root);
			if ((sbi_.valid_data_bn(v) || t2_leaf_valid(sbi_, v)) &&
			    (err = free_block(v, true)))
				return err;
			root = 0;
		}
		return 0;
	}
	if (height > kMaxHeight || !sbi_.valid_data_bn(root))
		return 0; // corrupt: leave it to truncate/fsck
	return trunc_node(root, height, 0, from, to, budget, done);
}

namespace {

// A leaf v is what want looks for.
bool leaf_is(const zus_sb_info &sbi, uint64_t v, Seek want)
{
	const uint64_t b = leaf_block(v);
	const bool mapped = sbi.valid_data_bn(b) || t2_leaf_valid(sbi, b);
	switch (want) {
	case Seek::kMapped:
		return mapped;
	case Seek::kUnmapped:
		return !mapped;
	case Seek::kData:
		return mapped && !(v & kUnwrittenLeaf);
	case Seek::kNoData:
		return !mapped || (v & kUnwrittenLeaf);
	}
	return false;
}

// bmap_seek below node (level lvl >= 1, first index base).
uint64_t seek_node(const zus_sb_info &sbi, uint64_t node, uint32_t lvl,
		   uint64_t base, uint64_t from, Seek want)
{
	const bool want_hole = want == Seek::kUnmapped || want == Seek::kNoData;
	uint64_t span = 1ULL << (kFanoutShift * (lvl - 1));
	uint64_t s0 = from > base ? (from - base) / span : 0;
	auto *slots = reinterpret_cast<const uint64_t *>(sbi.blk(node));
	for (uint64_t s = s0; s < kFanout; ++s) {
		uint64_t child_base = base + s * span;
		uint64_t start = std::max(child_base, from);
		uint64_t v = slots[s];
		if (lvl == 1) {
			if (leaf_is(sbi, v, want))
				return start;
			continue;
		}
		if (!sbi.valid_data_bn(v)) { // an empty subtree
			if (want_hole)
				return start;
			continue;
		}
		uint64_t r =
			seek_node(sbi, v, lvl - 1, child_base, start, want);
		if (r != UINT64_MAX)
			return r;
	}
	return UINT64_MAX;
}

} // namespace

uint64_t bmap_seek(const zus_sb_info &sbi, const zus_inode *zi, uint64_t from,
		   Seek want)
{
	const bool want_hole = want == Seek::kUnmapped || want == Seek::kNoData;
	if (from >= kMaxFileBlocks)
		return want_hole ? from : UINT64_MAX;
	uint64_t root = zi->i_on_disk.a[0];
	uint64_t h = zi->i_on_disk.a[1];
	if (h > kMaxHeight)
		return want_hole ? from : UINT64_MAX;
	if (h == 0) {
		if (from > 0)
			return want_hole ? from : UINT64_MAX;
		if (leaf_is(sbi, root, want))
			return 0;
		return want_hole ? 1 : UINT64_MAX;
	}
	if (!sbi.valid_data_bn(root) || (from >> (kFanoutShift * h)) != 0)
		return want_hole ? from : UINT64_MAX; // no tree, or past it
	uint64_t r =
		seek_node(sbi, root, static_cast<uint32_t>(h), 0, from, want);
	if (r == UINT64_MAX && want_hole) {
		uint64_t end = 1ULL << (kFanoutShift *
					h); // the first index past the tree
		return end < kMaxFileBlocks ? end : UINT64_MAX;
	}
	return r;
}

} // namespace zus::pmfs
