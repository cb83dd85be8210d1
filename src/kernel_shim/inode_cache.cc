// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/inode_cache.h"

#include <vector>

#include "kernel_shim/log.h"

namespace zuf {

namespace {

uint64_t &count_of(Inode *inode, Ref ref)
{
	return ref == Ref::kernel ? inode->nlookup : inode->pins;
}

} // namespace

// Give one server reference back (zuf: zuf_evict_inode / the lookup race).
void InodeCache::release(zus_inode_info *zus_ii, bool free, uint64_t flags)
{
	zufs_ioc_evict_inode ioc = {};

	ioc.hdr.operation = free ? ZUFS_OP_FREE_INODE : ZUFS_OP_EVICT_INODE;
	ioc.hdr.in_len = sizeof(ioc);
	ioc.hdr.out_max = sizeof(ioc);
	ioc.zus_ii = zus_ii;
	ioc.flags = flags;
	int err = channel_.dispatch(&ioc.hdr, {});
	if (err)
		zuf_err("%s => %d", free ? "FREE_INODE" : "EVICT_INODE", err);
}

// The last reference of a dying Inode went: tell the server, then let it go.
void InodeCache::evict(Inode *dying)
{
	// i_nlink is read now, when the last reference goes: an unlinked
	// inode is freed on media only once nobody can reach it.
	bool unlinked =
		__atomic_load_n(&dying->zi->i_nlink, __ATOMIC_ACQUIRE) == 0;
	release(dying->zus_ii, unlinked, 0);

	Shard &s = shard(dying->ino);
	bool pending;
	{
		std::lock_guard lock(s.lock);
		pending = dying->unlinked;
		s.map.erase(dying->ino);
	}
	s.gone.notify_all();
	if (pending) {
		{
			std::lock_guard g(free_mu_);
			--pending_;
			frees_.fetch_add(1, std::memory_order_release);
		}
		freed_.notify_all();
	}
}

void InodeCache::mark_unlinked(Inode *inode)
{
	{
		std::lock_guard lock(shard(inode->ino).lock);
		if (inode->unlinked || inode->dying)
			return;
		inode->unlinked = true;
	}
	std::lock_guard g(free_mu_); // before evict() can count it freed:
	++pending_;		     // the caller holds a reference
	++marked_;
}

bool InodeCache::wait_for_free(uint64_t *seen,
			       std::chrono::steady_clock::time_point deadline)
{
	std::unique_lock g(free_mu_);
	auto freed = [&] {
		return frees_.load(std::memory_order_acquire) != *seen;
	};
	if (!freed()) {
		if (!pending_ || hopeless_ == marked_ + 1)
			return false;
		if (!freed_.wait_until(g, deadline, freed)) {
			hopeless_ = marked_ + 1;
			return false;
		}
	}
	*seen = frees_.load(std::memory_order_acquire);
	return true;
}

Inode *InodeCache::insert(zus_inode_info *zus_ii, const zus_inode *zi, Ref ref)
{
	uint64_t ino = zi->i_ino;

	if (!ino) {
		zuf_err("server answered ino 0");
		release(zus_ii, false, 0);
		return nullptr;
	}

	Shard &s = shard(ino);
	Inode *inode;
	{
		std::unique_lock lock(s.lock);
		// A dying Inode's EVICT/FREE goes first; this is a new one.
		s.gone.wait(lock, [&] {
			auto it = s.map.find(ino);
			return it == s.map.end() || !it->second->dying;
		});
		auto &slot = s.map[ino];
		if (!slot) {
			slot = std::make_unique<Inode>(Inode{
				.ino = ino, .zus_ii = zus_ii, .zi = zi });
			++count_of(slot.get(), ref);
			return slot.get();
		}
		inode = slot.get();
		++count_of(inode, ref);
	}
	// Already cached: the cache holds its one server reference; this
	// answer's reference is a duplicate.
	if (inode->zus_ii != zus_ii)
		zuf_err("ino %lu: two zus_ii from the server",
			(unsigned long)ino);
	release(zus_ii, false, ZI_LOOKUP_RACE);
	return inode;
}

Inode *InodeCache::get(uint64_t ino, Ref ref)
{
	Shard &s = shard(ino);
	std::lock_guard lock(s.lock);
	auto it = s.map.find(ino);
	if (it == s.map.end() || it->second->dying)
		return nullptr;
	++count_of(it->second.get(), ref);
	return it->second.get();
}

// Drop n references of kind ref, under the shard lock; true if that was
// the last reference (the Inode is then dying: the caller evicts it).
bool InodeCache::drop_locked(Inode *inode, Ref ref, uint64_t n)
{
	uint64_t &count = count_of(inode, ref);

	if (count < n) {
		zuf_err("ino %lu: dropping %lu of %lu refs",
			(unsigned long)inode->ino, (unsigned long)n,
			(unsigned long)count);
		n = count;
	}
	count -= n;
	if (inode->nlookup || inode->pins)
		return false;
	inode->dying = true;
	return true;
}

void InodeCache::put(Inode *inode, Ref ref, uint64_t n)
{
	Shard &s = shard(inode->ino);
	bool last;
	{
		std::lock_guard lock(s.lock);
		last = drop_locked(inode, ref, n);
	}
	if (last)
		evict(inode);
}

void InodeCache::forget(uint64_t ino, uint64_t n)
{
	Shard &s = shard(ino);
	Inode *inode;
	{
		std::lock_guard lock(s.lock);
		auto it = s.map.find(ino);
		if (it == s.map.end() || it->second->dying) {
			zuf_err("forget of uncached ino %lu",
				(unsigned long)ino);
			return;
		}
		inode = it->second.get();
		if (!drop_locked(inode, Ref::kernel, n))
			return;
	}
	evict(inode);
}

void InodeCache::evict_all()
{
	std::vector<Inode *> all;

	for (Shard &s : shards_) {
		std::lock_guard lock(s.lock);
		for (auto &[ino, inode] : s.map)
			if (!inode->dying) {
				inode->dying = true;
				all.push_back(inode.get());
			}
	}
	for (Inode *inode : all)
		evict(inode);
}

size_t InodeCache::size() const
{
	size_t n = 0;
	for (const Shard &s : shards_) {
		std::lock_guard lock(s.lock);
		n += s.map.size();
	}
	return n;
}

} // namespace zuf
