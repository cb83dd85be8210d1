// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/check.h"

#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "server/persist.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/format.h"
#include "server/pmfs/layout.h"
#include "server/server.h"
#include "zufs/zus_api.h"

namespace zus::pmfs {

namespace {

// One pass over the image. In repair mode (wbase != nullptr) every problem
// that has a safe fix is fixed in place as it is found; the caller runs
// passes until one finds nothing to fix (freeing an unreachable directory
// leaves its children unreachable for the next pass).
class Checker {
  public:
	Checker(const char *base, size_t len, char *wbase,
		CheckProgress progress)
	    : base_(base), wbase_(wbase), len_(len), progress_(progress)
	{
	}

	CheckResult run()
	{
		sb_ = reinterpret_cast<const pmfs_super *>(base_);
		std::string why;
		if (validate_super(*sb_, len_, &why)) {
			error("%s", why.c_str());
			return std::move(r_);
		}
		owner_.assign(sb_->s_nblocks, 0);
		leafrefs_.assign(sb_->s_nblocks, 0);
		links_.assign(sb_->s_inode_count + 1, 0);
		subdirs_.assign(sb_->s_inode_count + 1, 0);
		check_lanes();
		const uint64_t n = sb_->s_inode_count;
		for (uint64_t ino = 1; ino <= n; ++ino) {
			check_inode(ino);
			if (progress_ && (ino % 4096 == 0 || ino == n))
				progress_(ino, 2 * n);
		}
		for (uint64_t ino = 1; ino <= n; ++ino) {
			check_links(ino);
			if (progress_ && (ino % 4096 == 0 || ino == n))
				progress_(n + ino, 2 * n);
		}
		check_bitmap();
		check_refc();
		check_orphan_table();
		r_.t2_used = t2owner_.size();
		return std::move(r_);
	}

  private:
	void line(const char *prefix, const char *fmt, va_list ap)
	{
		if (r_.errors > 100)
			return;
		char buf[256];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		r_.report += prefix;
		r_.report += buf;
		r_.report += '\n';
	}
	void error(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
	{
		++r_.errors;
		va_list ap;
		va_start(ap, fmt);
		line("", fmt, ap);
		va_end(ap);
	}
	// A problem with a fix: reported, and fixed when repairing (returns
	// true then: the caller applies the fix).
	bool fixable(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
	{
		++r_.errors;
		va_list ap;
		va_start(ap, fmt);
		line(wbase_ ? "fixed: " : "", fmt, ap);
		va_end(ap);
		if (wbase_)
			++r_.fixed;
		return wbase_ != nullptr;
	}
	template <typename T> T *w(const T *p) const
	{
		return reinterpret_cast<T *>(
			wbase_ + (reinterpret_cast<const char *>(p) - base_));
	}

	const zus_inode *zi(uint64_t ino) const
	{
		return reinterpret_cast<const zus_inode *>(
			       base_ + sb_->s_itable_blk * kBlockSize) +
		       (ino - 1);
	}
	const char *blk(uint64_t bn) const { return base_ + bn * kBlockSize; }
	bool bit(uint64_t bn) const
	{
		auto *wd = reinterpret_cast<const uint64_t *>(
			blk(sb_->s_bitmap_blk));
		return (wd[bn / 64] >> (bn % 64)) & 1;
	}
	void set_bit(uint64_t bn, bool on)
	{
		auto *wd = w(reinterpret_cast<const uint64_t *>(
			blk(sb_->s_bitmap_blk)));
		if (on)
			wd[bn / 64] |= 1ULL << (bn % 64);
		else
			wd[bn / 64] &= ~(1ULL << (bn % 64));
	}
	bool allocated(uint64_t ino) const
	{
		return ino >= 1 && ino <= sb_->s_inode_count &&
		       zi(ino)->i_ino == ino && zi(ino)->i_mode;
	}
	// Free an inode slot (its blocks become unreferenced: the bitmap pass
	// of the next round frees them).
	void free_slot(uint64_t ino)
	{
		zus_inode *z = w(zi(ino));
		uint64_t gen = z->i_generation;
		memset(z, 0, sizeof(*z));
		z->i_generation = gen;
	}

	void check_lanes()
	{
		for (uint32_t l = 0; l < sb_->s_lanes; ++l) {
			auto *h = reinterpret_cast<const pmfs_lane_head *>(
				blk(sb_->s_journal_blk +
				    uint64_t(l) * sb_->s_lane_blocks));
			if (h->active_seq) {
				r_.needs_recovery = true;
				error("journal lane %u holds an uncommitted transaction",
				      l);
			}
		}
	}

	// Claim bn for ino; false (reported) if it cannot be one of its blocks.
	// A data leaf of a regular file (leaf) may share its block with other
	// such leaves (refc.h: COPY); every other block is owned once.
	bool claim(uint64_t ino, uint64_t bn, bool leaf = false)
	{
		if (bn < sb_->s_data_blk || bn >= sb_->s_nblocks) {
			fixable("inode %lu: block %lu outside the data area",
				ino, bn);
			return false;
		}
		if (owner_[bn]) {
			if (leaf && leafrefs_[bn]) {
				++leafrefs_[bn];
				return true;
			}
			fixable("block %lu used by inode %lu and inode %lu", bn,
				owner_[bn], ino);
			return false;
		}
		owner_[bn] = ino;
		if (leaf)
			leafrefs_[bn] = 1;
		++r_.used_blocks;
		return true;
	}
	void unclaim(uint64_t bn)
	{
		if (bn & kT2Leaf) {
			t2owner_.erase(bn & ~kT2Leaf);
			return;
		}
		if (leafrefs_[bn] > 1) { // one of several owners
			--leafrefs_[bn];
			return;
		}
		leafrefs_[bn] = 0;
		owner_[bn] = 0;
		--r_.used_blocks;
	}

	// A tier-2 leaf (tier.h: kT2Leaf | T2 block number): only in a regular
	// file, inside the T2 the superblock names (s_t2_blocks), owned once.
	// Repair makes a bad one a hole: fsck cannot reach T2's data.
	bool claim_t2(uint64_t ino, uint64_t v)
	{
		const uint64_t b = v & ~kT2Leaf;
		if (!S_ISREG(zi(ino)->i_mode)) {
			fixable("inode %lu: tier-2 block %lu in a file that is not regular",
				ino, b);
			return false;
		}
		if (!b || b >= sb_->s_t2_blocks) {
			fixable("inode %lu: tier-2 block %lu outside the tier 2 (%llu blocks)",
				ino, b, (unsigned long long)sb_->s_t2_blocks);
			return false;
		}
		auto [it, fresh] = t2owner_.emplace(b, ino);
		if (!fresh) {
			fixable("tier-2 block %lu used by inode %lu and inode %lu",
				b, it->second, ino);
			return false;
		}
		return true;
	}

	// An unwritten leaf (bmap.h: kUnwrittenLeaf) *ref: only in a regular
	// file, and its pmem block holds zeros. Repair makes it a written
	// leaf (what the block holds stays readable).
	void unwritten_ok(uint64_t ino, const uint64_t *ref)
	{
		const uint64_t b = leaf_block(*ref);
		const char *why = nullptr;
		if (!S_ISREG(zi(ino)->i_mode))
			why = "an unwritten block in a file that is not regular";
		else if (!(b & kT2Leaf) && b >= sb_->s_data_blk &&
			 b < sb_->s_nblocks && !all_zero(blk(b), kBlockSize))
			why = "an unwritten block that holds data";
		if (!why)
			++r_.unwritten;
		else if (fixable("inode %lu: %s (block %lu)", ino, why,
				 b & ~kT2Leaf))
			*w(ref) = b;
	}

	static bool all_zero(const char *p, size_t n)
	{
		for (size_t i = 0; i < n; i += 8)
			if (*reinterpret_cast<const uint64_t *>(p + i))
				return false;
		return true;
	}

	// Walk a tree from the pointer *ref; calls leaf(index, bn, ref) for
	// each data block (bn may be a tier-2 leaf). A pointer that cannot be
	// claimed is cleared when repairing (claim() reported it).
	template <typename Fn>
	void walk(uint64_t ino, const uint64_t *ref, uint32_t lvl,
		  uint64_t base, Fn leaf)
	{
		uint64_t node = *ref;
		if (lvl == 0 && (node & kUnwrittenLeaf)) {
			unwritten_ok(ino, ref);
			node = leaf_block(node);
		}
		if (lvl == 0 && (node & kT2Leaf)) { // a block on tier 2
			if (!claim_t2(ino, node)) {
				if (wbase_)
					*w(ref) = 0;
				return;
			}
			leaf(base, node, ref);
			return;
		}
		if (!claim(ino, node, lvl == 0 && S_ISREG(zi(ino)->i_mode))) {
			if (wbase_)
				*w(ref) = 0;
			return;
		}
		if (lvl == 0) {
			leaf(base, node, ref);
			return;
		}
		auto *slots = reinterpret_cast<const uint64_t *>(blk(node));
		uint64_t span = 1ULL << (kFanoutShift * (lvl - 1));
		for (uint64_t s = 0; s < kFanout; ++s)
			if (slots[s])
				walk(ino, &slots[s], lvl - 1, base + s * span,
				     leaf);
	}

	void check_inode(uint64_t ino)
	{
		const zus_inode *z = zi(ino);
		if (z->i_ino == 0)
			return;
		if (z->i_ino != ino || !z->i_mode) {
			if (fixable("inode slot %lu holds ino %llu mode %o",
				    ino, (unsigned long long)z->i_ino,
				    z->i_mode))
				free_slot(ino);
			return;
		}
		++r_.inodes;
		if ((z->i_nlink == 0 && ino != kRootIno) ||
		    (z->i_flags & kZiTruncating))
			unfinished_.push_back(
				ino); // must be in the orphan table
		if (z->i_nlink == 0 && ino != kRootIno) {
			r_.needs_recovery = true;
			if (fixable("inode %lu: orphan (i_nlink 0)", ino)) {
				free_slot(ino);
				return;
			}
		}
		if (z->i_flags & kZiTruncating) {
			r_.needs_recovery = true;
			if (fixable("inode %lu: interrupted truncation", ino))
				w(z)->i_flags &= ~kZiTruncating;
		}
		uint64_t root = z->i_on_disk.a[0], height = z->i_on_disk.a[1];
		if (height > kMaxHeight) {
			if (fixable("inode %lu: tree height %lu", ino,
				    height)) {
				auto *wz = w(z);
				wz->i_on_disk.a[0] = wz->i_on_disk.a[1] = 0;
				wz->i_blocks = 0;
				if (!S_ISDIR(z->i_mode))
					wz->i_size = 0;
			}
			return;
		}
		const bool is_reg = S_ISREG(z->i_mode),
			   is_dir = S_ISDIR(z->i_mode);
		// Blocks a file may map: up to its size (past it with
		// kZiPrealloc); a directory: its size.
		uint64_t limit =
			is_dir ? z->i_size / kBlockSize :
			is_reg ? (z->i_size + kBlockSize - 1) / kBlockSize :
				 ~0ULL;
		if (is_reg && (z->i_flags & kZiPrealloc))
			limit = ~0ULL;
		uint64_t data = 0, nodes_and_data = r_.used_blocks;
		std::vector<std::pair<uint64_t, uint64_t>> dir_blocks;
		if (root)
			walk(ino,
			     reinterpret_cast<const uint64_t *>(
				     &z->i_on_disk.a[0]),
			     static_cast<uint32_t>(height), 0,
			     [&](uint64_t idx, uint64_t bn,
				 const uint64_t *ref) {
				if (idx >= limit) {
					if (fixable("inode %lu: block %lu past its size %llu",
						    ino, idx,
						    (unsigned long long)
							    z->i_size)) {
						*w(ref) = 0;
						unclaim(bn);
					}
					return;
				}
				++data;
				if (is_dir)
					dir_blocks.emplace_back(idx, bn);
			});
		nodes_and_data = r_.used_blocks - nodes_and_data;
		check_xattr(ino, z);
		// i_blocks counts the data blocks (older images: also the tree
		// nodes); xattr blocks are not counted.
		if (z->i_blocks != data * (kBlockSize / 512) &&
		    z->i_blocks != nodes_and_data * (kBlockSize / 512) &&
		    fixable("inode %lu: i_blocks %llu, tree has %lu data blocks",
			    ino, (unsigned long long)z->i_blocks, data))
			w(z)->i_blocks = data * (kBlockSize / 512);
		if (is_reg) {
			++r_.files;
		} else if (is_dir) {
			++r_.dirs;
			if (z->i_size % kBlockSize)
				error("directory %lu: size %llu", ino,
				      (unsigned long long)z->i_size);
			for (auto [idx, bn] : dir_blocks)
				check_dir_block(ino, bn);
			if (!allocated(z->i_dir.parent) ||
			    !S_ISDIR(zi(z->i_dir.parent)->i_mode))
				error("directory %lu: parent %llu is not a directory",
				      ino, (unsigned long long)z->i_dir.parent);
		}
	}

	// The xattr set (layout.h): its head and data blocks belong to ino.
	void check_xattr(uint64_t ino, const zus_inode *z)
	{
		uint64_t bn = z->i_xattr;
		if (!bn)
			return;
		if (!claim(ino, bn)) {
			if (wbase_)
				w(z)->i_xattr = 0;
			return;
		}
		auto *h = reinterpret_cast<const pmfs_xattr_head *>(blk(bn));
		if (h->magic != kXattrMagic || h->nblk > kXattrMaxBlocks) {
			if (fixable("inode %lu: bad xattr block %lu (xattrs dropped)",
				    ino, bn)) {
				w(z)->i_xattr = 0;
				unclaim(bn);
			}
			return;
		}
		for (uint32_t i = 0; i < h->nblk; ++i)
			claim(ino, h->bn[i]);
	}

	void clear_slots(const char *b, uint32_t s, uint32_t n)
	{
		memset(w(b) + s * kSlotSize, 0, size_t(n) * kSlotSize);
	}

	void check_dir_block(uint64_t dir, uint64_t bn)
	{
		const char *b = blk(bn);
		for (uint32_t s = 0; s < kSlotsPerBlock;) {
			auto *de = reinterpret_cast<const pmfs_dentry *>(
				b + s * kSlotSize);
			if (!de->ino) {
				for (uint32_t k = 0; k < kSlotSize; ++k)
					if (b[s * kSlotSize + k]) {
						if (fixable("directory %lu: free slot %u not zeroed",
							    dir, s))
							clear_slots(b, s, 1);
						break;
					}
				++s;
				continue;
			}
			if (!de->name_len ||
			    de->nslots < dentry_slots(de->name_len) ||
			    s + de->nslots > kSlotsPerBlock) {
				if (fixable("directory %lu: bad entry header at slot %u",
					    dir, s))
					clear_slots(b, s, 1);
				++s;
				continue;
			}
			const uint32_t n = de->nslots;
			if (!allocated(de->ino) || de->ino == kRootIno ||
			    de->ino == dir) {
				if (fixable("directory %lu: entry '%.*s' -> free or invalid inode %llu",
					    dir, de->name_len, de->name,
					    (unsigned long long)de->ino)) {
					clear_slots(b, s, n);
					s += n;
					continue;
				}
			} else {
				const zus_inode *c = zi(de->ino);
				if (S_ISDIR(c->i_mode) && links_[de->ino] &&
				    fixable("directory %llu: second name '%.*s' in %lu",
					    (unsigned long long)de->ino,
					    de->name_len, de->name, dir)) {
					clear_slots(b, s, n);
					s += n;
					continue;
				}
				++links_[de->ino];
				if (de->type != ((c->i_mode >> 12) & 15) &&
				    fixable("directory %lu: entry '%.*s' has the wrong type",
					    dir, de->name_len, de->name))
					w(de)->type = static_cast<uint8_t>(
						(c->i_mode >> 12) & 15);
				if (S_ISDIR(c->i_mode)) {
					++subdirs_[dir];
					if (c->i_dir.parent != dir &&
					    fixable("directory %llu: '..' is %llu, found in %lu",
						    (unsigned long long)de->ino,
						    (unsigned long long)
							    c->i_dir.parent,
						    dir))
						w(c)->i_dir.parent = dir;
				}
			}
			s += n;
		}
	}

	void check_links(uint64_t ino)
	{
		if (!allocated(ino))
			return;
		const zus_inode *z = zi(ino);
		uint64_t names = links_[ino] + (ino == kRootIno ? 1 : 0);
		if (names == 0 && z->i_nlink == 0)
			return; // an orphan, reported by check_inode
		if (names == 0) {
			// Reached by no name: left over by a lost transaction.
			if (fixable("inode %lu: no directory entry points to it (nlink %u)",
				    ino, z->i_nlink))
				free_slot(ino);
			return;
		}
		if (S_ISDIR(z->i_mode)) {
			if (names != 1)
				error("directory %lu has %lu names", ino,
				      names);
			if (z->i_nlink != 2 + subdirs_[ino] &&
			    fixable("directory %lu: i_nlink %u, expected %lu",
				    ino, z->i_nlink, 2 + subdirs_[ino]))
				w(z)->i_nlink = static_cast<uint32_t>(
					2 + subdirs_[ino]);
		} else if (z->i_nlink != links_[ino] &&
			   fixable("inode %lu: i_nlink %u, %lu names", ino,
				   z->i_nlink, links_[ino])) {
			w(z)->i_nlink = static_cast<uint32_t>(links_[ino]);
		}
	}

	void check_bitmap()
	{
		for (uint64_t b = 0; b < sb_->s_data_blk; ++b)
			if (!bit(b) &&
			    fixable("metadata block %lu marked free", b))
				set_bit(b, true);
		uint64_t leaked = 0;
		for (uint64_t b = sb_->s_data_blk; b < sb_->s_nblocks; ++b) {
			if (owner_[b] && !bit(b)) {
				if (fixable("block %lu of inode %lu marked free",
					    b, owner_[b]))
					set_bit(b, true);
			} else if (!owner_[b] && bit(b)) {
				if (!leaked++)
					error("block %lu marked used but not referenced",
					      b);
				if (wbase_)
					set_bit(b, false);
			}
		}
		if (leaked > 1)
			error("%lu blocks leaked in all", leaked);
		if (leaked && wbase_) {
			r_.fixed += 1;
			r_.report += "fixed: freed " + std::to_string(leaked) +
				     " leaked blocks\n";
		}
	}

	// Share counts (layout.h s_refc_blk, refc.h): a block's count is its
	// number of file leaves - 1 (0 for every other block). Repair sets it
	// so; more owners than a count can say stays an error.
	void check_refc()
	{
		auto *rc =
			reinterpret_cast<const uint8_t *>(blk(sb_->s_refc_blk));
		for (uint64_t b = 0; b < sb_->s_nblocks; ++b) {
			const uint64_t want =
				leafrefs_[b] > 1 ? leafrefs_[b] - 1 : 0;
			if (rc[b] == want)
				continue;
			if (want > kRefcMax) {
				error("block %lu: %lu owners, more than a share count holds",
				      b, want + 1);
				continue;
			}
			if (fixable("block %lu: share count %u, %lu owner%s", b,
				    rc[b], want + 1, want ? "s" : ""))
				*w(&rc[b]) = static_cast<uint8_t>(want);
		}
	}

	// ---- orphan table (inode.h) ----
	// Every entry names, once, an inode with i_nlink 0 or kZiTruncating;
	// every such inode is listed unless kSuperOrphanFull says the table
	// overflowed. Repair clears bad entries (the inodes themselves were
	// fixed by check_inode).
	void check_orphan_table()
	{
		auto *t = reinterpret_cast<const uint64_t *>(
			blk(sb_->s_orphan_blk));
		const uint64_t n =
			sb_->s_orphan_blocks * (kBlockSize / sizeof(uint64_t));
		std::vector<bool> listed(sb_->s_inode_count + 1, false);
		auto unfinished = [&](uint64_t ino) {
			const zus_inode *z = zi(ino);
			return (z->i_nlink == 0 && ino != kRootIno) ||
			       (z->i_flags & kZiTruncating);
		};
		for (uint64_t i = 0; i < n; ++i) {
			const uint64_t ino = t[i];
			if (!ino)
				continue;
			const char *why =
				!allocated(ino) ? "free or invalid" :
				listed[ino]	? "listed twice" :
				!unfinished(ino) ?
					      "not an orphan nor truncating" :
					      nullptr;
			if (!why) {
				listed[ino] = true;
				continue;
			}
			++r_.orphan_table_errors;
			if (fixable("orphan table entry %lu: inode %llu is %s",
				    i, (unsigned long long)ino, why))
				*w(&t[i]) = 0;
		}
		if (sb_->s_flags & kSuperOrphanFull)
			return; // overflowed: the next mount scans every inode
		for (uint64_t ino : unfinished_)
			if (allocated(ino) && unfinished(ino) && !listed[ino]) {
				++r_.orphan_table_errors;
				error("inode %lu: %s but not in the orphan table",
				      ino,
				      zi(ino)->i_nlink ? "truncating" :
							 "orphan");
			}
	}

	std::vector<uint64_t> unfinished_;
	const char *base_;
	char *wbase_;
	size_t len_;
	CheckProgress progress_;
	const pmfs_super *sb_ = nullptr;
	std::vector<uint64_t> owner_;
	std::vector<uint32_t> leafrefs_; // file leaves pointing at each block
	std::unordered_map<uint64_t, uint64_t> t2owner_; // T2 block -> inode
	std::vector<uint64_t> links_, subdirs_;
	CheckResult r_;
};

} // namespace

CheckResult check_mapping(const char *base, size_t len, CheckProgress progress)
{
	return Checker(base, len, nullptr, progress).run();
}

CheckResult repair_mapping(char *base, size_t len, CheckProgress progress)
{
	CheckResult all;
	for (int pass = 0; pass < 8; ++pass) {
		CheckResult r = Checker(base, len, base, progress).run();
		if (pass == 0) {
			all = r;
		} else {
			all.fixed += r.fixed;
			all.report += r.report;
		}
		if (!r.fixed)
			break;
	}
	return all;
}

} // namespace zus::pmfs
