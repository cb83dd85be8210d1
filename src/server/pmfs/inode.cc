// SPDX-License-Identifier: BSD-3-Clause
#include "server/pmfs/inode.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>

#include "server/pmfs/dir.h"
#include "server/pmfs/file.h"
#include "server/pmfs/pmfs.h"

zus_inode_info::zus_inode_info() = default;
zus_inode_info::~zus_inode_info() { magic = 0; }

namespace zus::pmfs {

InodeCache::InodeCache(zus_sb_info *sbi) : sbi_(sbi) {}
InodeCache::~InodeCache() = default;

int InodeCache::scan_at_mount()
{
	int orphans = 0;
	uint64_t n = sbi_->sb->s_inode_count;
	free_slots_.clear();
	free_slots_.reserve(n);
	for (uint64_t ino = n; ino >= 1; --ino) {
		zus_inode *zi = sbi_->zi_of(ino);
		if (zi->i_ino != ino) {
			free_slots_.push_back(ino);
			continue;
		}
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
	if (free_slots_.empty())
		return 0;
	uint64_t ino = free_slots_.back();
	free_slots_.pop_back();
	return ino;
}

void InodeCache::release_ino(uint64_t ino)
{
	std::lock_guard lk(slots_mu_);
	free_slots_.push_back(ino);
}

uint64_t InodeCache::free_inodes() const
{
	std::lock_guard lk(slots_mu_);
	return free_slots_.size();
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
	int err = free_blocks_from(sbi, ii, 0);
	if (err)
		return err;
	zus_inode *zi = ii->zi;
	{
		Tx tx(sbi);
		if ((err = tx.log(zi, sizeof(*zi))) || (err = tx.ready()))
			return err;
		uint64_t gen = zi->i_generation;
		*zi = zus_inode{};
		zi->i_generation = gen;
		if ((err = tx.commit(ii)))
			return err;
	}
	sbi.icache->release_ino(ii->ino);
	return 0;
}

} // namespace zus::pmfs
