// SPDX-License-Identifier: BSD-3-Clause
//
// inode_cache.h - the shim's inode cache (zuf: the VFS inode cache plus
// zuf_inode_info): FUSE ino -> the server's zus_inode_info cookie and the
// zus_inode the shim reads attributes from.
//
// References:
//  - Every LOOKUP/NEW_INODE answer carries one server reference. The cache
//    keeps exactly one per cached inode; a duplicate (a racing LOOKUP for an
//    ino already cached) goes straight back as EVICT_INODE/ZI_LOOKUP_RACE.
//  - An Inode lives while nlookup (the kernel's references, given by
//    replies, dropped by forget) or pins (the shim's own: an operation in
//    flight, an open file) are non-zero. When both reach zero it leaves the
//    cache and the server reference is dropped: FREE_INODE if the zus_inode
//    has i_nlink == 0, EVICT_INODE otherwise.
//  - While that message is in flight the Inode stays in the cache as dying:
//    get() does not see it, and a LOOKUP answer for the same ino waits until
//    it is gone, so the server sees EVICT/FREE and the new reference in an
//    order that matches the shim's (zuf: I_FREEING and iget's wait).
//  - Frees still to come: an inode that lost its last name (mark_unlinked)
//    is freed when its last reference goes, and FUSE drops those in the
//    background, after the unlink's reply: a RELEASE (close(2) does not
//    wait for it) and the FORGET the kernel queues on /dev/fuse when it
//    evicts the inode. wait_for_free() lets a request that met ENOSPC wait
//    for them, as ext4_should_retry_alloc waits for a journal commit.
//
// Thread-safe: sharded by ino; no lock is held while talking to the server.
#ifndef ZUF_INODE_CACHE_H
#define ZUF_INODE_CACHE_H

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "zufs/channel.h"
#include "zufs/zus_api.h"

namespace zuf {

struct Inode {
	uint64_t ino;
	zus_inode_info *zus_ii; // server cookie, never dereferenced
	const zus_inode *zi;	// in pool 0, bounds-checked; read only
	uint64_t nlookup = 0;	// guarded by the shard lock
	uint64_t pins = 0;	// guarded by the shard lock
	bool dying = false;	// EVICT/FREE in flight; guarded by the lock
	bool unlinked = false;	// counted in pending frees; guarded by the lock
};

// Which kind of reference a caller takes or drops.
enum class Ref { kernel, pin };

class InodeCache {
  public:
	explicit InodeCache(zufs::Channel &channel) : channel_(channel) {}
	~InodeCache() = default;
	InodeCache(const InodeCache &) = delete;
	InodeCache &operator=(const InodeCache &) = delete;

	// Take in the answer of a LOOKUP/NEW_INODE (zi already bounds-checked)
	// and return the cached Inode with one more reference of kind ref.
	// Returns null (after giving the server reference back) if zi names
	// ino 0.
	Inode *insert(zus_inode_info *zus_ii, const zus_inode *zi, Ref ref);

	// The cached inode with one more reference, or null if not cached.
	Inode *get(uint64_t ino, Ref ref);

	// Drop n references; the last one evicts (see above).
	void put(Inode *inode, Ref ref, uint64_t n = 1);

	// The kernel forgets n lookups of ino (FUSE forget).
	void forget(uint64_t ino, uint64_t n);

	// Umount: drop every cached inode's server reference, whatever its
	// counts (the kernel does not forget at umount).
	void evict_all();

	// inode (a reference held) lost its last link: its FREE_INODE, when
	// its references go, is a pending free (see above).
	void mark_unlinked(Inode *inode);
	// How many pending frees have completed so far.
	uint64_t frees() const
	{
		return frees_.load(std::memory_order_acquire);
	}
	// After an ENOSPC: wait until a pending free completes past *seen (a
	// frees() taken before the request), then true with *seen updated.
	// False at once when no free is pending, or when the last wait for
	// the same set of pending frees found none completed by its deadline
	// (files held open after their unlink free nothing until closed);
	// false at deadline.
	bool wait_for_free(uint64_t *seen,
			   std::chrono::steady_clock::time_point deadline);

	size_t size() const;

  private:
	struct Shard {
		mutable std::mutex lock;
		std::condition_variable gone; // a dying Inode left the map
		std::unordered_map<uint64_t, std::unique_ptr<Inode>> map;
	};
	static constexpr size_t kShards = 64;

	Shard &shard(uint64_t ino) { return shards_[ino % kShards]; }
	void release(zus_inode_info *zus_ii, bool free, uint64_t flags);
	void evict(Inode *dying);
	bool drop_locked(Inode *inode, Ref ref, uint64_t n);

	zufs::Channel &channel_;
	Shard shards_[kShards];

	// Pending frees (mark_unlinked): counts under free_mu_.
	std::mutex free_mu_;
	std::condition_variable freed_;
	uint64_t pending_ = 0;	// marked, not yet freed
	uint64_t marked_ = 0;	// ever marked: names the pending set
	uint64_t hopeless_ = 0; // marked_ + 1 when a wait timed out
	std::atomic<uint64_t> frees_{ 0 };
};

// A pinned inode for one operation (InodeCache::get(ino, Ref::pin)), or
// the owner of a pin already taken (a pinned Inode, or null); the pin goes
// with it.
class PinnedInode {
  public:
	PinnedInode(InodeCache &c, uint64_t ino)
	    : c_(c), i_(c.get(ino, Ref::pin))
	{
	}
	PinnedInode(InodeCache &c, Inode *pinned) : c_(c), i_(pinned) {}
	~PinnedInode()
	{
		if (i_)
			c_.put(i_, Ref::pin);
	}
	PinnedInode(const PinnedInode &) = delete;
	PinnedInode &operator=(const PinnedInode &) = delete;
	Inode *operator->() const { return i_; }
	Inode *get() const { return i_; }
	explicit operator bool() const { return i_; }

  private:
	InodeCache &c_;
	Inode *i_;
};

} // namespace zuf

#endif // ZUF_INODE_CACHE_H
