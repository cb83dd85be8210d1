// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/inode.h"

#include <sys/stat.h>

#include <bit>
#include <cerrno>
#include <cstdio>

#include "server/pmfs/dir.h"
#include "server/pmfs/file.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/xattr.h"

zus_inode_info::zus_inode_info() = default;
zus_inode_info::~zus_inode_info() { magic = 0; }

namespace zus::pmfs {

InodeCache::InodeCache(zus_sb_info *sbi) : sbi_(sbi) {}
InodeCache::~InodeCache() = default;

int InodeCache::scan_at_mount(bool clean)
{
	int orphans = 0;
	uint64_t n = sbi_->sb->s_inode_count;
	slot_used_.assign((n + 63) / 64, 0);
	for (uint64_t s = n; s < slot_used_.size() * 64; ++s) // past the table
		slot_used_[s / 64] |= 1ULL << (s % 64);
	slots_free_ = n;
	for (uint64_t ino = 1; ino <= n; ++ino) {
		zus_inode *zi = sbi_->zi_of(ino);
		if (zi->i_ino != ino)
			continue;
		slot_used_[(ino - 1) / 64] |= 1ULL << ((ino - 1) % 64);
		--slots_free_;
	}
	for (uint64_t ino = 1; ino <= n && !clean; ++ino) {
		zus_inode *zi = sbi_->zi_of(ino);
		if (zi->i_ino != ino)
			continue;
		if (sbi_->ro)
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
	zus_inode_info *ret = ii.get();
	s.map.emplace(ino, std::move(ii));
	return ret;
}

void InodeCache::put(zus_inode_info *ii)
{
	std::unique_ptr<zus_inode_info> gone;
	{
		Shard &s = shard(ii->ino);
		std::lock_guard lk(s.mu);
		if (ii->refs.fetch_sub(1, std::memory_order_acq_rel) > 1)
			return;
		auto it = s.map.find(ii->ino);
		if (it == s.map.end() || it->second.get() != ii)
			return; // not ours: a double put
		gone = std::move(it->second);
		s.map.erase(it);
	}
	if (gone->zi->i_nlink == 0 && !sbi_->crashed && !sbi_->ro)
		inode_free_media(*sbi_, gone.get());
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
			    !sbi_->crashed && !sbi_->ro)
				inode_free_media(*sbi_, ii.get());
	}
}

uint64_t InodeCache::alloc_ino()
{
	std::lock_guard lk(slots_mu_);
	if (!slots_free_)
		return 0;
	const uint64_t words = slot_used_.size();
	for (uint64_t i = 0; i < words; ++i) {
		uint64_t w = (slot_cursor_ + i) % words;
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
	slot_used_[(ino - 1) / 64] &= ~(1ULL << ((ino - 1) % 64));
	++slots_free_;
}

uint64_t InodeCache::free_inodes() const
{
	std::lock_guard lk(slots_mu_);
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
	err = free_blocks_from(sbi, ii, 0, true);
	if (err)
		return err;
	sbi.icache->release_ino(ii->ino);
	return 0;
}

} // namespace zus::pmfs
