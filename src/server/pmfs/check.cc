// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/check.h"

#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <vector>

#include "server/pmfs/format.h"
#include "server/pmfs/layout.h"
#include "zufs/zus_api.h"

namespace zus::pmfs {

namespace {

class Checker {
  public:
	Checker(const char *base, size_t len) : base_(base), len_(len) {}

	CheckResult run()
	{
		sb_ = reinterpret_cast<const pmfs_super *>(base_);
		std::string why;
		if (validate_super(*sb_, len_, &why)) {
			error("%s", why.c_str());
			return std::move(r_);
		}
		owner_.assign(sb_->s_nblocks, 0);
		links_.assign(sb_->s_inode_count + 1, 0);
		subdirs_.assign(sb_->s_inode_count + 1, 0);
		check_lanes();
		for (uint64_t ino = 1; ino <= sb_->s_inode_count; ++ino)
			check_inode(ino);
		for (uint64_t ino = 1; ino <= sb_->s_inode_count; ++ino)
			check_links(ino);
		check_bitmap();
		return std::move(r_);
	}

  private:
	void error(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
	{
		if (++r_.errors > 100)
			return;
		char buf[256];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(buf, sizeof(buf), fmt, ap);
		va_end(ap);
		r_.report += buf;
		r_.report += '\n';
	}

	const zus_inode *zi(uint64_t ino) const
	{
		return reinterpret_cast<const zus_inode *>(base_ + sb_->s_itable_blk * kBlockSize) +
		       (ino - 1);
	}
	const char *blk(uint64_t bn) const { return base_ + bn * kBlockSize; }
	bool bit(uint64_t bn) const
	{
		auto *w = reinterpret_cast<const uint64_t *>(blk(sb_->s_bitmap_blk));
		return (w[bn / 64] >> (bn % 64)) & 1;
	}
	bool allocated(uint64_t ino) const
	{
		return ino >= 1 && ino <= sb_->s_inode_count && zi(ino)->i_ino == ino &&
		       zi(ino)->i_mode;
	}

	void check_lanes()
	{
		for (uint32_t l = 0; l < sb_->s_lanes; ++l) {
			auto *h = reinterpret_cast<const pmfs_lane_head *>(
				blk(sb_->s_journal_blk + uint64_t(l) * sb_->s_lane_blocks));
			if (h->active_seq)
				error("journal lane %u holds an uncommitted transaction", l);
		}
	}

	// Claim bn for ino; false if it cannot be a block of a tree.
	bool claim(uint64_t ino, uint64_t bn)
	{
		if (bn < sb_->s_data_blk || bn >= sb_->s_nblocks) {
			error("inode %lu: block %lu outside the data area", ino, bn);
			return false;
		}
		if (owner_[bn]) {
			error("block %lu used by inode %lu and inode %lu", bn, owner_[bn], ino);
			return false;
		}
		owner_[bn] = ino;
		++r_.used_blocks;
		return true;
	}

	// Walk a tree; calls leaf(index, bn) for each data block.
	template <typename Fn>
	void walk(uint64_t ino, uint64_t node, uint32_t lvl, uint64_t base, uint64_t *count, Fn leaf)
	{
		if (!claim(ino, node))
			return;
		++*count;
		if (lvl == 0) {
			leaf(base, node);
			return;
		}
		auto *slots = reinterpret_cast<const uint64_t *>(blk(node));
		uint64_t span = 1ULL << (kFanoutShift * (lvl - 1));
		for (uint64_t s = 0; s < kFanout; ++s)
			if (slots[s])
				walk(ino, slots[s], lvl - 1, base + s * span, count, leaf);
	}

	void check_inode(uint64_t ino)
	{
		const zus_inode *z = zi(ino);
		if (z->i_ino == 0)
			return;
		if (z->i_ino != ino) {
			error("inode slot %lu holds ino %llu", ino, (unsigned long long)z->i_ino);
			return;
		}
		++r_.inodes;
		if (z->i_nlink == 0)
			error("inode %lu: orphan (i_nlink 0)", ino);
		if (z->i_flags & kZiTruncating)
			error("inode %lu: interrupted truncation", ino);
		uint64_t root = z->i_on_disk.a[0], height = z->i_on_disk.a[1];
		if (height > kMaxHeight) {
			error("inode %lu: tree height %lu", ino, height);
			return;
		}
		uint64_t count = 0, last_idx = 0;
		bool any = false;
		std::vector<std::pair<uint64_t, uint64_t>> dir_blocks;
		if (root)
			walk(ino, root, static_cast<uint32_t>(height), 0, &count,
			     [&](uint64_t idx, uint64_t bn) {
				     any = true;
				     last_idx = std::max(last_idx, idx);
				     if (S_ISDIR(z->i_mode))
					     dir_blocks.emplace_back(idx, bn);
			     });
		if (z->i_blocks != count * (kBlockSize / 512))
			error("inode %lu: i_blocks %llu, tree has %lu blocks", ino,
			      (unsigned long long)z->i_blocks, count);
		if (S_ISREG(z->i_mode)) {
			++r_.files;
			if (any && last_idx >= (z->i_size + kBlockSize - 1) / kBlockSize)
				error("inode %lu: block %lu past EOF (size %llu)", ino, last_idx,
				      (unsigned long long)z->i_size);
		} else if (S_ISDIR(z->i_mode)) {
			++r_.dirs;
			if (z->i_size % kBlockSize)
				error("directory %lu: size %llu", ino, (unsigned long long)z->i_size);
			if (any && last_idx >= z->i_size / kBlockSize)
				error("directory %lu: block past its size", ino);
			for (auto [idx, bn] : dir_blocks)
				check_dir_block(ino, bn);
			if (!allocated(z->i_dir.parent) || !S_ISDIR(zi(z->i_dir.parent)->i_mode))
				error("directory %lu: parent %llu is not a directory", ino,
				      (unsigned long long)z->i_dir.parent);
		}
	}

	void check_dir_block(uint64_t dir, uint64_t bn)
	{
		const char *b = blk(bn);
		for (uint32_t s = 0; s < kSlotsPerBlock;) {
			auto *de = reinterpret_cast<const pmfs_dentry *>(b + s * kSlotSize);
			if (!de->ino) {
				for (uint32_t k = 0; k < kSlotSize; ++k)
					if (b[s * kSlotSize + k]) {
						error("directory %lu: free slot not zeroed", dir);
						break;
					}
				++s;
				continue;
			}
			if (!de->name_len || de->nslots < dentry_slots(de->name_len) ||
			    s + de->nslots > kSlotsPerBlock) {
				error("directory %lu: bad entry header at slot %u", dir, s);
				++s;
				continue;
			}
			if (!allocated(de->ino)) {
				error("directory %lu: entry '%.*s' -> free inode %llu", dir,
				      de->name_len, de->name, (unsigned long long)de->ino);
			} else {
				++links_[de->ino];
				const zus_inode *c = zi(de->ino);
				if (de->type != ((c->i_mode >> 12) & 15))
					error("directory %lu: entry '%.*s' has the wrong type", dir,
					      de->name_len, de->name);
				if (S_ISDIR(c->i_mode)) {
					++subdirs_[dir];
					if (c->i_dir.parent != dir)
						error("directory %llu: '..' is %llu, found in %lu",
						      (unsigned long long)de->ino,
						      (unsigned long long)c->i_dir.parent, dir);
				}
			}
			s += de->nslots;
		}
	}

	void check_links(uint64_t ino)
	{
		if (!allocated(ino))
			return;
		const zus_inode *z = zi(ino);
		if (S_ISDIR(z->i_mode)) {
			uint64_t names = links_[ino] + (ino == kRootIno ? 1 : 0);
			if (names != 1)
				error("directory %lu has %lu names", ino, names);
			if (z->i_nlink != 2 + subdirs_[ino])
				error("directory %lu: i_nlink %u, expected %lu", ino, z->i_nlink,
				      2 + subdirs_[ino]);
		} else if (z->i_nlink != links_[ino]) {
			error("inode %lu: i_nlink %u, %lu names", ino, z->i_nlink, links_[ino]);
		}
	}

	void check_bitmap()
	{
		for (uint64_t b = 0; b < sb_->s_data_blk; ++b)
			if (!bit(b))
				error("metadata block %lu marked free", b);
		uint64_t leaked = 0;
		for (uint64_t b = sb_->s_data_blk; b < sb_->s_nblocks; ++b) {
			if (owner_[b] && !bit(b))
				error("block %lu of inode %lu marked free", b, owner_[b]);
			else if (!owner_[b] && bit(b) && !leaked++)
				error("block %lu marked used but not referenced", b);
		}
		if (leaked > 1)
			error("%lu blocks leaked in all", leaked);
	}

	const char *base_;
	size_t len_;
	const pmfs_super *sb_ = nullptr;
	std::vector<uint64_t> owner_;
	std::vector<uint64_t> links_, subdirs_;
	CheckResult r_;
};

} // namespace

CheckResult check_mapping(const char *base, size_t len)
{
	return Checker(base, len).run();
}

} // namespace zus::pmfs
