// SPDX-License-Identifier: BSD-3-Clause
//
// pmfs.h - the mounted pmfs: zus_sb_info (one per mount) and zus_inode_info
// (one per live inode). These are the server cookies of the ABI: the shim
// holds their addresses and never looks inside.
//
// Locking (outermost first):
//   ns_lock (per mount, shared_mutex): exclusive for every change of the
//     namespace (NEW_INODE, ADD/REMOVE_DENTRY, RENAME), shared for LOOKUP
//     and READDIR. One lock per file system is the simple first design;
//     directory operations serialize, data operations never take it.
//   zus_inode_info::rw (shared_mutex): exclusive while a zus_inode or its
//     radix tree changes (WRITE, SETATTR, namespace ops on the inodes they
//     touch), shared for READ and GET_MULTY. Namespace ops lock several
//     inodes only under ns_lock held exclusively, so they cannot deadlock.
//     COPY locks its two inodes in ino order, as namespace ops do.
//   icache shard mutexes, inode-slot allocator mutex, allocator group
//     mutexes, journal lane mutexes, defer_mu: leaves (refc_mu is taken
//     only after a lane: refc.h).
#ifndef ZUS_PMFS_PMFS_H
#define ZUS_PMFS_PMFS_H

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/persist.h"
#include "server/persist_file.h"
#include "server/pmfs/balloc.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/layout.h"
#include "zufs/channel.h"
#include "zufs/zus_api.h"

namespace zus::pmfs {
struct DirIndex;
class InodeCache;
class IomapJobs;
struct TierState;
} // namespace zus::pmfs

struct zus_inode_info {
	static constexpr uint64_t kMagic = 0x7a69696e666f3031ULL;
	uint64_t magic = kMagic;
	zus_sb_info *sbi = nullptr;
	zus_inode *zi = nullptr;
	uint64_t ino = 0;
	std::atomic<int64_t> refs{ 0 };
	// Its last reference went and it is being freed on media: get() of
	// its number answers nullptr until the entry goes (InodeCache, under
	// the shard lock).
	bool dying = false;
	std::shared_mutex rw;
	// The commit epoch (Persist::epoch()) of its last change of metadata
	// that its data depends on (size, block map: every transaction it
	// owns), or of its loading: an O_DSYNC overwrite or fdatasync needs no
	// commit once Persist::committed() of it.
	std::atomic<uint64_t> meta_epoch{ 0 };

	// GET_MULTY pins (one per GET message that mapped pages, dropped by
	// its PUT): blocks freed while pins > 0 wait in deferred and go back to
	// the allocator when the last pin goes. If the inode itself is freed
	// with pins outstanding (a shim bug), they stay unused until remount.
	std::atomic<int64_t> pins{ 0 };
	std::mutex defer_mu;
	std::vector<std::pair<uint64_t, uint64_t>> deferred;
	// Shared blocks (refc.h) this inode dropped while it had pins out
	// (zus_sb_info::held): unheld when the last pin goes. Under defer_mu.
	std::vector<uint64_t> held;

	// Directories: the DRAM name index, built on first use.
	std::mutex dir_mu;
	std::atomic<zus::pmfs::DirIndex *> dir{ nullptr };
	std::unique_ptr<zus::pmfs::DirIndex> dir_owner;

	zus_inode_info();
	~zus_inode_info();
};

struct zus_sb_info {
	static constexpr uint64_t kMagic = 0x7a75737362693031ULL;
	uint64_t magic = kMagic;
	std::string path; // as the user gave it, for messages
	int fd = -1;	  // holds the flock for the mount's lifetime
	char *base = nullptr;
	size_t map_len = 0;
	zus::pmfs::pmfs_super *sb = nullptr;
	// Read-only: mounted so (mounted_ro: the image is mapped read-only),
	// or remounted so (remount(): no background writer runs). The atime
	// options change at a remount too, while requests read them.
	std::atomic<bool> ro{ false };
	bool mounted_ro = false;
	bool acl = false; // POSIX ACLs (default; mount option "noacl": off)
	std::atomic<bool> noatime{ false }; // "noatime": no relatime updates
	std::atomic<bool> strictatime{ false }; // every access sets atime
	std::atomic<bool> nodiratime{ false };	// readdir never sets it
	unsigned commit_s = 5; // "commit=": file back-end commit interval
	// A simulated crash (tests), or a media fault inside a transaction
	// (stop_after_media_fault): every request gets -EIO until umount,
	// which leaves the media as it is for the next mount's recovery.
	std::atomic<bool> crashed{ false };
	zufs::ZufCalls *zuf = nullptr;
	uint64_t t2_blocks = 0; // the shim's T2 store ("t2size="), 0: none
	// Async IOMAP_EXECs in flight (tier.h), completed by IOM_DONE.
	// (shared_ptr: the type stays incomplete here.)
	std::shared_ptr<zus::pmfs::IomapJobs> iom_jobs;
	// Tier-2 allocator and promotions in flight (tier.h), made on first use.
	std::shared_ptr<zus::pmfs::TierState> tier;

	// The file back-end's working copy (persist_file.h), when the image is
	// an ordinary disk file: it owns the mapping at base.
	std::unique_ptr<zus::FileImage> file_image;
	zus::Persist persist;
	zus::pmfs::Journal journal;
	zus::pmfs::BlockAlloc balloc;
	std::unique_ptr<zus::pmfs::InodeCache> icache;
	std::shared_mutex ns_lock;
	// Held by a transaction that changes share counts (refc.h), from its
	// first change to its commit/abort. After a journal lane; a leaf.
	std::mutex refc_mu;
	// A shared block dropped by an owner that had GET_MULTY pins out may
	// still be read through a pinned mapping: it is "held" (block ->
	// holders) until that owner's last PUT_MULTY, and if its last owner
	// frees it meanwhile, it waits in held_freed instead of going back to
	// the allocator. held_mu is a leaf.
	std::mutex held_mu;
	std::atomic<bool> any_held{ false };
	std::unordered_map<uint64_t, uint32_t> held;
	std::vector<uint64_t> held_freed;
	// Blocks waiting in some inode's deferred list (its pins), and a
	// signal each time a last PUT_MULTY releases some: a request short of
	// T1 waits for them (tier_wait_room). deferred_mu is a leaf.
	std::atomic<uint64_t> deferred_blocks{ 0 };
	std::mutex deferred_mu;
	std::condition_variable deferred_cv;
	uint64_t deferred_releases = 0; // under deferred_mu
	void deferred_released(uint64_t n);

	zus_inode_info *root = nullptr; // the mount's reference on the root

	zus_sb_info();
	~zus_sb_info();

	char *blk(uint64_t bn) const
	{
		return base + (bn << zus::pmfs::kBlockShift);
	}
	uint64_t off_of(const void *p) const
	{
		return static_cast<const char *>(p) - base;
	}
	uint64_t nblocks() const { return sb->s_nblocks; }
	zus_inode *zi_of(uint64_t ino) const
	{
		return reinterpret_cast<zus_inode *>(blk(sb->s_itable_blk)) +
		       (ino - 1);
	}
	bool valid_ino(uint64_t ino) const
	{
		return ino >= 1 && ino <= sb->s_inode_count;
	}
	bool valid_data_bn(uint64_t bn) const
	{
		return bn >= sb->s_data_blk && bn < sb->s_nblocks;
	}

	// Freed blocks of owner go back to the allocator, or wait while owner
	// has blocks pinned by GET_MULTY.
	void release_blocks(zus_inode_info *owner, uint64_t bn, uint64_t n);
	// Shared blocks (see held): owner drops bn while pinned; owner's last
	// pin went (releases what was freed meanwhile).
	void hold_block(zus_inode_info *owner, uint64_t bn);
	void unhold_blocks(zus_inode_info *owner);

  private:
	void release_blocks_unheld(zus_inode_info *owner, uint64_t bn,
				   uint64_t n);
};

namespace zus::pmfs {

uint64_t now_ns();

// Mount/umount (mount.cc). On failure: negative errno and a one-line errmsg.
int mount(zufs_ioc_mount &m, zufs::ZufCalls *zuf,
	  std::unique_ptr<zus_sb_info> *out);
void umount(std::unique_ptr<zus_sb_info> sbi);
// ZUFS_M_REMOUNT (zuf's remount: the flags and options of mount(2)
// MS_REMOUNT): "ro" makes everything durable, stops the background writers
// (evictor, commit timer) and marks the image clean; "rw" starts them
// again (-EROFS for a mount made read-only: its image is mapped so); the
// atime options and commit= change. Others are ignored, as the kernel's
// FUSE ignores them at a remount.
int remount(zus_sb_info &sbi, zufs_ioc_mount &m);
// Make everything written to the mount durable (SYNC): 0 or -EIO.
int sync_fs(zus_sb_info &sbi);
// A media fault (fault/guard.h) inside a transaction that is past ready(),
// or outside any guard: the live mount cannot undo it, so it stops
// (crashed: every request gets -EIO) and says so in one line; the next
// mount's recovery rolls back what was in flight.
void stop_after_media_fault(zus_sb_info &sbi);

} // namespace zus::pmfs

#endif // ZUS_PMFS_PMFS_H
