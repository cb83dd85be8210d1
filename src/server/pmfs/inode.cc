// SPDX-License-Identifier: BSD-3-Clause
//
// inode.cc - the inode cache, the orphan table, and SETATTR (zuf's
// inode.c: zuf_setattr).
#include "server/pmfs/inode.h"

#include <linux/stat.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>

#include "fault/guard.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/dir.h"
#include "server/pmfs/file.h"
#include "server/pmfs/format.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"
#include "server/pmfs/xattr.h"

zus_inode_info::zus_inode_info() = default;
zus_inode_info::~zus_inode_info() { magic = 0; }

namespace zus::pmfs {

InodeCache::InodeCache(zus_sb_info *sbi) : sbi_(sbi) {}
InodeCache::~InodeCache() = default;

void OrphanTable::load(zus_sb_info *sbi)
{
	std::lock_guard lk(mu_);
	sbi_ = sbi;
	table_ = reinterpret_cast<uint64_t *>(sbi->blk(sbi->sb->s_orphan_blk));
	n_ = static_cast<uint32_t>(sbi->sb->s_orphan_blocks *
				   (kBlockSize / sizeof(uint64_t)));
	state_.assign(n_, kFree);
	ino_.assign(n_, 0);
	where_.clear();
	nfree_ = n_;
	hint_ = 0;
	for (uint32_t i = 0; i < n_; ++i) {
		if (!table_[i])
			continue;
		state_[i] = kUsed;
		ino_[i] = table_[i];
		--nfree_;
		where_.emplace(table_[i], i); // a duplicate keeps the first
	}
}

int OrphanTable::note(Tx &tx, uint32_t idx, uint64_t val, bool add)
{
	int err = tx.defer_store(&table_[idx], val);
	if (!err)
		err = tx.note_orphan(idx, add);
	return err;
}

int OrphanTable::add(Tx &tx, uint64_t ino)
{
	uint32_t idx;
	{
		std::lock_guard lk(mu_);
		if (where_.count(ino))
			return 0;
		if (!nfree_) {
			// Durable before this transaction's changes can be.
			if (!(sbi_->sb->s_flags & kSuperOrphanFull)) {
				sbi_->sb->s_flags |= kSuperOrphanFull;
				write_super(sbi_->base, sbi_->map_len,
					    sbi_->sb);
			}
			return 0;
		}
		idx = hint_;
		while (state_[idx] != kFree)
			idx = idx + 1 == n_ ? 0 : idx + 1;
		hint_ = idx + 1 == n_ ? 0 : idx + 1;
		state_[idx] = kFilling;
		ino_[idx] = ino;
		--nfree_;
		where_.emplace(ino, idx);
	}
	int err = note(tx, idx, ino, true);
	if (err) // not noted (the lane is full): undo the reservation here
		settle(idx, true, false);
	return err;
}

int OrphanTable::remove(Tx &tx, uint64_t ino)
{
	uint32_t idx;
	{
		std::lock_guard lk(mu_);
		auto it = where_.find(ino);
		if (it == where_.end() || state_[it->second] != kUsed)
			return 0;
		idx = it->second;
	}
	return clear(tx, idx);
}

int OrphanTable::clear(Tx &tx, uint32_t idx)
{
	{
		std::lock_guard lk(mu_);
		if (idx >= n_ || state_[idx] != kUsed)
			return 0;
		state_[idx] = kClearing;
	}
	int err = note(tx, idx, 0, false);
	if (err) {
		std::lock_guard lk(mu_);
		state_[idx] = kUsed;
	}
	return err;
}

void OrphanTable::settle(uint32_t idx, bool add, bool committed)
{
	std::lock_guard lk(mu_);
	if (idx >= n_)
		return;
	// Filled and committed, or cleared and aborted: in use.
	if (add == committed) {
		state_[idx] = kUsed;
		return;
	}
	// Filled and aborted, or cleared and committed: free again.
	auto it = where_.find(ino_[idx]);
	if (it != where_.end() && it->second == idx)
		where_.erase(it);
	ino_[idx] = 0;
	state_[idx] = kFree;
	++nfree_;
	hint_ = idx;
}

std::vector<std::pair<uint32_t, uint64_t>> OrphanTable::entries() const
{
	std::lock_guard lk(mu_);
	std::vector<std::pair<uint32_t, uint64_t>> out;
	for (uint32_t i = 0; i < n_; ++i)
		if (table_[i])
			out.emplace_back(i, table_[i]);
	return out;
}

size_t OrphanTable::used() const
{
	std::lock_guard lk(mu_);
	return n_ - nfree_;
}

bool OrphanTable::full() const
{
	std::lock_guard lk(mu_);
	return sbi_->sb->s_flags & kSuperOrphanFull;
}

void OrphanTable::clear_full()
{
	std::lock_guard lk(mu_);
	if (!(sbi_->sb->s_flags & kSuperOrphanFull))
		return;
	sbi_->sb->s_flags &= ~kSuperOrphanFull;
	write_super(sbi_->base, sbi_->map_len, sbi_->sb);
}

int InodeCache::scan_at_mount(bool clean)
{
	{
		// The slot map is filled lazily (scan_chunk): no pass over the
		// inode table at mount.
		std::lock_guard lk(slots_mu_);
		const uint64_t n = sbi_->sb->s_inode_count;
		slot_used_.assign((n + 63) / 64, 0);
		for (uint64_t s = n; s < slot_used_.size() * 64;
		     ++s) // past the table
			slot_used_[s / 64] |= 1ULL << (s % 64);
		const uint64_t chunks =
			(slot_used_.size() + kChunkWords - 1) / kChunkWords;
		chunk_scanned_.assign(chunks, false);
		chunks_left_ = chunks;
		slots_free_ = 0;
	}
	orphans_.load(sbi_);
	if (sbi_->ro)
		return 0;
	int orphans = finish_orphans(clean);
	if (orphans_.full()) {
		orphans += scan_all_orphans();
		orphans_.clear_full();
	}
	return orphans;
}

int InodeCache::finish_orphans(bool clean)
{
	auto list = orphans_.entries();
	if (clean && !list.empty())
		fprintf(stderr,
			"zufuse: image %s: orphan table not empty after a clean umount "
			"(%zu entr%s): finishing them\n",
			sbi_->path.c_str(), list.size(),
			list.size() == 1 ? "y" : "ies");
	int orphans = 0;
	for (auto [idx, ino] : list) {
		zus_inode_info *ii = get(ino);
		bool stale = !ii;
		if (ii && ii->zi->i_nlink == 0 && ino != kRootIno) {
			put(ii); // last reference of an unlinked inode: freed
			++orphans;
		} else if (ii && (ii->zi->i_flags & kZiTruncating)) {
			inode_finish_truncate(*sbi_, ii);
			put(ii);
		} else if (ii) {
			put(ii);
			stale = true;
		}
		// Finishing clears the entry. One that names a free inode (or a
		// duplicate), or an inode with nothing to finish, is cleared
		// here.
		if (!stale || orphans_.at(idx) != ino)
			continue;
		Tx tx(*sbi_);
		if (!orphans_.clear(tx, idx) && !tx.ready())
			tx.commit();
	}
	return orphans;
}

int InodeCache::scan_all_orphans()
{
	int orphans = 0;
	const uint64_t n = sbi_->sb->s_inode_count;
	for (uint64_t ino = 1; ino <= n; ++ino) {
		zus_inode *zi = sbi_->zi_of(ino);
		if (zi->i_ino != ino)
			continue;
		if (zi->i_nlink == 0 && ino != kRootIno) {
			zus_inode_info *ii = get(ino);
			if (ii) {
				put(ii); // last reference of an unlinked inode: freed
				++orphans;
			}
		} else if (zi->i_flags & kZiTruncating) {
			zus_inode_info *ii = get(ino);
			if (ii) {
				inode_finish_truncate(*sbi_, ii);
				put(ii);
			}
		}
	}
	return orphans;
}

zus_inode_info *InodeCache::get(uint64_t ino)
{
	if (!sbi_->valid_ino(ino))
		return nullptr;
	Shard &s = shard(ino);
	std::lock_guard lk(s.mu);
	auto it = s.map.find(ino);
	if (it != s.map.end()) {
		if (it->second->dying) // being freed: its slot is not an inode
			return nullptr;
		it->second->refs.fetch_add(1, std::memory_order_relaxed);
		return it->second.get();
	}
	zus_inode *zi = sbi_->zi_of(ino);
	if (zi->i_ino != ino || zi->i_mode == 0)
		return nullptr;
	auto ii = std::make_unique<zus_inode_info>();
	ii->sbi = sbi_;
	ii->zi = zi;
	ii->ino = ino;
	ii->refs = 1;
	ii->meta_epoch = sbi_->persist.epoch(); // changes before: unknown
	zus_inode_info *ret = ii.get();
	s.map.emplace(ino, std::move(ii));
	return ret;
}

void InodeCache::put(zus_inode_info *ii)
{
	std::unique_ptr<zus_inode_info> gone;
	Shard &s = shard(ii->ino);
	{
		std::lock_guard lk(s.mu);
		if (ii->refs.fetch_sub(1, std::memory_order_acq_rel) > 1)
			return;
		auto it = s.map.find(ii->ino);
		if (it == s.map.end() || it->second.get() != ii)
			return; // not ours: a double put
		// An unlinked inode is freed with its entry still in the map,
		// marked: get() of its number must not make a second one.
		if (ii->zi->i_nlink == 0 && !sbi_->crashed && !sbi_->ro) {
			ii->dying = true;
		} else {
			gone = std::move(it->second);
			s.map.erase(it);
		}
	}
	if (gone)
		return;
	const bool freed = inode_free_media(*sbi_, ii) == 0;
	{
		std::lock_guard lk(s.mu);
		auto it = s.map.find(ii->ino);
		if (it != s.map.end() && it->second.get() == ii) {
			gone = std::move(it->second);
			s.map.erase(it);
		}
	}
	if (freed) // only now may a create reuse the slot (and get() it)
		release_ino(ii->ino);
}

void InodeCache::drop_all()
{
	for (auto &s : shards_) {
		std::vector<std::unique_ptr<zus_inode_info>> all;
		{
			std::lock_guard lk(s.mu);
			for (auto &[ino, ii] : s.map)
				all.push_back(std::move(ii));
			s.map.clear();
		}
		for (auto &ii : all)
			if (ii->zi->i_nlink == 0 && ii->ino != kRootIno &&
			    !sbi_->crashed && !sbi_->ro &&
			    inode_free_media(*sbi_, ii.get()) == 0)
				release_ino(ii->ino);
	}
	// A clean umount leaves the orphan table empty: finish what an error
	// left behind (a truncation or a free that failed half way).
	if (!sbi_->crashed && !sbi_->ro && orphans_.used())
		finish_orphans(false);
}

void InodeCache::scan_chunk(uint64_t c) const
{
	if (chunk_scanned_[c])
		return;
	const uint64_t n = sbi_->sb->s_inode_count;
	const uint64_t first = c * kChunkWords * 64;
	const uint64_t last = std::min(n, first + kChunkWords * 64);
	for (uint64_t s = first; s < last; ++s) {
		if (sbi_->zi_of(s + 1)->i_ino == s + 1)
			slot_used_[s / 64] |= 1ULL << (s % 64);
		else
			++slots_free_;
	}
	chunk_scanned_[c] = true;
	--chunks_left_;
}

uint64_t InodeCache::alloc_ino()
{
	std::lock_guard lk(slots_mu_);
	if (!slots_free_ && !chunks_left_)
		return 0;
	const uint64_t words = slot_used_.size();
	for (uint64_t i = 0; i < words; ++i) {
		uint64_t w = (slot_cursor_ + i) % words;
		scan_chunk(w / kChunkWords);
		if (slot_used_[w] == ~0ULL)
			continue;
		uint64_t bit = std::countr_one(slot_used_[w]);
		slot_used_[w] |= 1ULL << bit;
		--slots_free_;
		slot_cursor_ = w;
		return w * 64 + bit + 1;
	}
	return 0;
}

void InodeCache::release_ino(uint64_t ino)
{
	std::lock_guard lk(slots_mu_);
	const uint64_t w = (ino - 1) / 64, bit = 1ULL << ((ino - 1) % 64);
	if (!chunk_scanned_[w / kChunkWords] || !(slot_used_[w] & bit))
		return; // its scan finds the slot free (freed on media first)
	slot_used_[w] &= ~bit;
	++slots_free_;
}

uint64_t InodeCache::free_inodes() const
{
	std::lock_guard lk(slots_mu_);
	for (uint64_t c = 0; chunks_left_ && c < chunk_scanned_.size(); ++c)
		scan_chunk(c);
	return slots_free_;
}

int inode_finish_truncate(zus_sb_info &sbi, zus_inode_info *ii)
{
	std::unique_lock lk(ii->rw);
	uint64_t from = (ii->zi->i_size + kBlockSize - 1) >> kBlockShift;
	if (S_ISDIR(ii->zi->i_mode))
		from = ii->zi->i_size >> kBlockShift;
	return free_blocks_from(sbi, ii, from);
}

int inode_free_media(zus_sb_info &sbi, zus_inode_info *ii)
{
	std::unique_lock lk(ii->rw);
	int err = xattr_free_all(sbi, ii);
	if (err)
		return err;
	return free_blocks_from(sbi, ii, 0, true);
}

using zufs::fault::Access;
using zufs::fault::guarded;

int op_setattr(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *ia = reinterpret_cast<zufs_ioc_attr *>(hdr);
	int err = 0;
	ia->unmap_offset = ia->unmap_len = 0;
	zus_inode_info *ii = ii_cookie(ia->zus_ii, &err);
	if (!ii)
		return err;
	zus_sb_info &sbi = *ii->sbi;
	if (sbi.ro)
		return -EROFS;
	const uint32_t mask = ia->zuf_attr;
	// A truncate may bring a partial block back from T2: T1 room first
	// (no lock held), else it comes from the reserve (below).
	BlockAlloc::Hold hold(sbi.balloc);
	if (mask & STATX_SIZE)
		tier_room_for_metadata(sbi);
	std::unique_lock lk(ii->rw);
	zus_inode *zi = ii->zi;
	bool shrink = false;
	uint64_t new_size = zi->i_size;
	if (mask & STATX_SIZE) {
		if (S_ISDIR(zi->i_mode))
			return -EISDIR;
		if (!S_ISREG(zi->i_mode))
			return -EINVAL;
		if (ia->size > (kMaxFileBlocks << kBlockShift))
			return -EFBIG;
		new_size = ia->size;
		shrink = new_size < zi->i_size;
	}
	// i_x shares its bytes with a long inline symlink (layout.h).
	if ((mask & ZUFS_STATX_FSX) && S_ISLNK(zi->i_mode))
		return -EOPNOTSUPP;
	const uint64_t keep_blocks = (new_size + kBlockSize - 1) >> kBlockShift;
	// A truncation to or below i_size frees every block past the new EOF,
	// fallocate(KEEP_SIZE)'s too (as tmpfs does).
	const bool free_tail =
		(mask & STATX_SIZE) && new_size <= zi->i_size &&
		bmap_seek(sbi, zi, keep_blocks, true) != UINT64_MAX;

	// A partial last block on T2 comes back to T1 to have its tail zeroed,
	// and a shared one is copied first (refc.h: same content, so a crash
	// between the two steps loses nothing). Freeing must not fail for
	// want of space: that block may come from the reserve (balloc.h).
	if (shrink && (new_size & (kBlockSize - 1))) {
		BlockAlloc::ReserveScope reserve;
		if ((err = tier_promote_locked(ii, new_size >> kBlockShift)) ||
		    (err = unshare_range(sbi, ii, new_size >> kBlockShift,
					 new_size >> kBlockShift)))
			return err;
	}
	// chmod rewrites the access ACL (posix_acl_chmod) in the same step.
	XattrSwap acl(sbi);
	if ((mask & STATX_MODE) && (err = acl.chmod(zi, ia->mode & 07777)))
		return err;
	{ // the attributes, and the new size, in one transaction
		Tx tx(sbi);
		if ((err = tx.log(zi, sizeof(*zi))))
			return err;
		if (acl.pending() && (err = acl.claim(tx)))
			return err;
		// Bytes past EOF in the last block must read as zero if the file
		// grows again. Logged, and zeroed only after ready(): a crash
		// that rolls the size back must give the old bytes back too
		// (found by the crash-state explorer).
		char *tail = nullptr;
		uint64_t tail_len = 0;
		if (shrink && (new_size & (kBlockSize - 1))) {
			uint64_t bn =
				bmap_lookup(sbi, zi, new_size >> kBlockShift);
			uint64_t off = new_size & (kBlockSize - 1);
			if (bn) {
				tail = sbi.blk(bn) + off;
				tail_len = kBlockSize - off;
				if ((err = tx.log(tail, tail_len)))
					return err;
			}
		}
		// Blocks past the new EOF: recovery finishes the truncation if
		// it is cut short (orphan table, inode.h).
		if (free_tail && (err = sbi.icache->orphans().add(tx, ii->ino)))
			return err;
		if ((err = tx.ready()))
			return err;
		// Past ready() a fault cannot be undone in the live mount: stop
		// it as a crash would; the next mount rolls the change back.
		if (tail &&
		    (err = guarded(Access::kWrite, tail, tail_len, "truncation",
				   [&] {
			sbi.persist.memset_nodrain(tail, 0, tail_len);
		     }))) {
			stop_after_media_fault(sbi);
			return err;
		}
		if (mask & STATX_MODE)
			zi->i_mode = (zi->i_mode & S_IFMT) |
				     (ia->mode & ~S_IFMT & 07777);
		acl.apply(zi);
		if (mask & STATX_UID)
			zi->i_uid = ia->uid;
		if (mask & STATX_GID)
			zi->i_gid = ia->gid;
		if (mask & STATX_ATIME)
			zi->i_atime = ia->atime;
		if (mask & STATX_MTIME)
			zi->i_mtime = ia->mtime;
		if (mask & ZUFS_STATX_FLAGS)
			zi->i_flags = (zi->i_flags & ~ZUFS_S_VFS_MASK) |
				      (ia->i_flags & ZUFS_S_VFS_MASK);
		if (mask & ZUFS_STATX_FSX) { // no birth time if it had none
			zi->i_flags |= ZUFS_ZI_EXT;
			zi->i_x.i_projid = ia->projid;
			zi->i_x.i_extsize = ia->extsize;
		}
		// Any size change request sets mtime/ctime, even to the same size:
		// open(O_TRUNC) of an empty file must (POSIX), and it arrives as
		// the same SIZE-only SETATTR as truncate(2) (which tmpfs leaves
		// alone when the size does not change).
		if (mask & STATX_SIZE) {
			zi->i_size = new_size;
			if (!(mask & STATX_MTIME))
				zi->i_mtime = now_ns();
			if (free_tail)
				zi->i_flags |= kZiTruncating;
		}
		zi->i_ctime = now_ns();
		if ((err = tx.commit(ii)))
			return err;
	}

	if (free_tail && (err = free_blocks_from(sbi, ii, keep_blocks)))
		return err;
	if (shrink) {
		ia->unmap_offset = new_size;
		ia->unmap_len = ~0ULL;
	}
	return 0;
}

} // namespace zus::pmfs
