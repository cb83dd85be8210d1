// SPDX-License-Identifier: BSD-3-Clause
//
// vfs.h - the "VFS side" of the shim: the file system operations as the
// kernel would call them into zuf, callable in process without FUSE.
//
// Every operation becomes one or more zufs_ioc_* messages through
// zufs::Channel::dispatch; the answers are checked before use. The FUSE
// frontend (fuse_frontend.h) is a thin adapter over this class; tests and the
// in-process benchmark drive it directly.
//
// Contract:
//  - Inodes are named by ino (the FUSE inode number = zus_inode.i_ino; the
//    root is 1). lookup/mknod/mkdir each give the caller one reference that
//    it drops with forget(), as the kernel does with FUSE.
//  - Errors are negative errno values; nothing throws.
//  - Thread-safe after mount() and until umount(). Files must be released
//    (their unique_ptr destroyed) before umount().
//  - No FUSE types here.
#ifndef ZUF_VFS_H
#define ZUF_VFS_H

#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>

#include "iomap/executor.h"
#include "iomap/t2.h"
#include "kernel_shim/inode_cache.h"
#include "kernel_shim/invalidator.h"
#include "kernel_shim/pool.h"
#include "kernel_shim/rw.h"
#include "zufs/channel.h"
#include "zufs/zus_api.h"

namespace zuf {

// A flag that one thread changes (a remount) while others read it;
// copyable, so VfsOptions stays a value.
class SharedFlag {
  public:
	SharedFlag(bool v = false) : v_(v) {}
	SharedFlag(const SharedFlag &o) : v_(bool(o)) {}
	SharedFlag &operator=(const SharedFlag &o)
	{
		v_.store(bool(o));
		return *this;
	}
	SharedFlag &operator=(bool v)
	{
		v_.store(v);
		return *this;
	}
	operator bool() const { return v_.load(std::memory_order_relaxed); }

  private:
	std::atomic<bool> v_;
};

struct VfsOptions {
	std::string server_options;   // "pmem=PATH,size=BYTES,mkfs,ro"
	SharedFlag sync = false;      // mounted sync: every write is SYNC
	SharedFlag read_only = false; // changes at a remount
	// Tier 2 (t2_exec.cc): opened at mount, its size told to the server
	// as "t2size=BYTES"; "" = no T2 (every T2 op is refused).
	std::string t2_path = {};
	uint64_t t2_size = 0;	    // create/grow a T2 file to this (0: keep)
	SharedFlag dirsync = false; // namespace changes durable at return
};

struct Entry {
	uint64_t ino = 0;
	uint64_t generation = 0;
	struct stat attr = {};
};

// SETATTR: mask is STATX_MODE/UID/GID/SIZE/ATIME/MTIME.
struct SetAttr {
	uint32_t mask = 0;
	uint32_t mode = 0; // permission bits (07777)
	uint32_t uid = 0;
	uint32_t gid = 0;
	uint64_t size = 0;
	uint64_t atime_ns = 0;
	uint64_t mtime_ns = 0;
	bool touch = false; // the times are "now" (utimes(NULL)), not given
};

struct DirEntry {
	uint64_t ino;
	unsigned type;	       // DT_*
	uint64_t next;	       // cookie that resumes after this entry
	std::string_view name; // valid during the callback only
};
// Returns false to stop before this entry (it is not consumed).
using DirSink = std::function<bool(const DirEntry &)>;

class Vfs;

// One open file (struct file): pins its inode, keeps the open flags and
// the readahead state.
class File {
	class Key { // only the Vfs makes Files
		friend class Vfs;
		Key() = default;
	};

  public:
	File(Key, InodeCache &cache, Inode *inode, int flags)
	    : cache_(cache), inode_(inode), flags_(flags)
	{
	}
	~File();
	File(const File &) = delete;
	File &operator=(const File &) = delete;

	uint64_t ino() const { return inode_->ino; }
	int flags() const { return flags_; }

  private:
	friend class Vfs;

	InodeCache &cache_;
	Inode *inode_;
	int flags_;
	std::mutex ra_lock_;
	Readahead ra_;
};

class Vfs final : private iomap::Unmapper {
  public:
	// inval: where unmaps go (null: nowhere, e.g. no page cache).
	Vfs(zufs::Channel &channel, VfsOptions opts,
	    Invalidator *inval = nullptr);
	~Vfs() override;
	Vfs(const Vfs &) = delete;
	Vfs &operator=(const Vfs &) = delete;

	// ZUFS_M_MOUNT. On failure *errmsg is the server's one-line reason.
	int mount(std::string *errmsg);
	// Drop every inode reference, then ZUFS_M_UMOUNT (image left clean).
	int umount();
	// ZUFS_M_REMOUNT, as zuf tells zus of mount(2) MS_REMOUNT: the
	// server options ("ro" or "rw", the atime ones, commit=), after the
	// kernel took the remount. On success the Vfs follows ro; on failure
	// *errmsg is the server's one-line reason and nothing changed.
	int remount(const std::string &server_options, bool ro,
		    std::string *errmsg);
	// -o sync (every write and change of an inode durable at return) and
	// -o dirsync (namespace changes too; sync implies it): the kernel's
	// super block flags, which a remount changes (set_sync()).
	bool sync_mount() const { return opts_.sync; }
	bool dirsync_mount() const { return opts_.dirsync || opts_.sync; }
	void set_sync(bool sync, bool dirsync)
	{
		opts_.sync = sync;
		opts_.dirsync = dirsync;
	}
	bool mounted() const { return mounted_; }
	// The server keeps POSIX ACLs (ZUFS_FSC_ACL_ON at mount).
	bool acl() const { return acl_; }

	int lookup(uint64_t parent, std::string_view name, Entry *out);
	void forget(uint64_t ino, uint64_t nlookup);
	int getattr(uint64_t ino, struct stat *out);
	// Birth time (statx btime): -ENODATA for an inode that has none.
	int btime(uint64_t ino, struct timespec *out);
	int setattr(uint64_t ino, const SetAttr &attr, struct stat *out);

	// umask: the caller's, applied here when the parent has no default
	// ACL (the kernel's posix_acl_create; FUSE_CAP_DONT_MASK), else the
	// new inode inherits the ACL.
	int mknod(uint64_t parent, std::string_view name, mode_t mode,
		  dev_t rdev, uid_t uid, gid_t gid, Entry *out,
		  mode_t umask = 0);
	// O_TMPFILE: a regular file with no name (i_nlink 0) in parent's
	// file system, freed when its last reference goes unless link()
	// gives it a name first; an orphan on media until then.
	int tmpfile(uint64_t parent, mode_t mode, uid_t uid, gid_t gid,
		    Entry *out, mode_t umask = 0);
	int mkdir(uint64_t parent, std::string_view name, mode_t mode,
		  uid_t uid, gid_t gid, Entry *out, mode_t umask = 0);
	int symlink(uint64_t parent, std::string_view name,
		    std::string_view target, uid_t uid, gid_t gid, Entry *out);
	int readlink(uint64_t ino, std::string *target);
	// A new name for ino (ADD_DENTRY); *out carries one more reference.
	int link(uint64_t ino, uint64_t newparent, std::string_view newname,
		 Entry *out);
	int unlink(uint64_t parent, std::string_view name);
	int rmdir(uint64_t parent, std::string_view name);
	// flags: RENAME_NOREPLACE / RENAME_EXCHANGE / RENAME_WHITEOUT (the
	// caller, the kernel, has checked CAP_MKNOD); a whiteout belongs to
	// uid/gid, the caller's fsuid/fsgid.
	int rename(uint64_t parent, std::string_view name, uint64_t newparent,
		   std::string_view newname, unsigned flags, uid_t uid = 0,
		   gid_t gid = 0);
	// Entries from cookie pos (0: start, "." and ".." first).
	int readdir(uint64_t ino, uint64_t pos, const DirSink &sink);

	// flags: open(2) flags (O_ACCMODE, O_DIRECT, O_DSYNC, O_SYNC, O_TRUNC).
	int open(uint64_t ino, int flags, std::unique_ptr<File> *out);
	// Copy-based read/write through ZUFS_OP_READ/WRITE; oflags adds
	// per-call flags (rwf_to_oflags(RWF_*), or FUSE's write flags).
	ssize_t read(File &f, std::span<const iovec> iov, uint64_t pos,
		     int oflags = 0);
	ssize_t write(File &f, std::span<const iovec> iov, uint64_t pos,
		      int oflags = 0);
	// What the kernel's file_remove_privs() does before a write or a
	// truncate, for when FUSE_HANDLE_KILLPRIV_V2 hands it to the file
	// system (fuse_wire.h): drop security.capability, and with
	// kill_suidgid suid (and sgid when group-executable). Not for
	// directories; 0 when there was nothing to drop.
	int remove_privs(uint64_t ino, bool kill_suidgid);
	// Zero-copy read (GET_MULTY); see MappedRead.
	ssize_t read_mapped(File &f, size_t size, uint64_t pos, MappedRead &out,
			    int oflags = 0);
	int fsync(uint64_t ino, bool datasync);
	int statfs(struct statvfs *out);
	// zufuse's ZUFS_OP_STATS: the server's space and counters (for
	// zufusectl; never called on a request path).
	int server_stats(zufs_ioc_stats *out);

	// vfs_xattr.cc. Extended attributes by full name ("user.x"); buf
	// empty: the size only; -ERANGE when buf is too small. listxattr
	// shows trusted.* only to privileged callers.
	int setxattr(uint64_t ino, std::string_view name,
		     std::string_view value, int flags);
	ssize_t getxattr(uint64_t ino, std::string_view name,
			 std::span<char> buf);
	ssize_t listxattr(uint64_t ino, std::span<char> buf, bool privileged);
	int removexattr(uint64_t ino, std::string_view name);
	// vfs_file.cc. fallocate(2) modes FALLOC_FL_KEEP_SIZE/PUNCH_HOLE/ZERO_RANGE.
	int fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t len);
	// SEEK_DATA / SEEK_HOLE only: the new offset or -errno (-ENXIO).
	int64_t lseek(uint64_t ino, uint64_t offset, int whence);
	// vfs_flags.cc: chattr/lsattr. FS_*_FL flags (FS_IOC_GETFLAGS/
	// SETFLAGS) and their fsxattr form; the caller (the kernel) has
	// checked ownership and CAP_LINUX_IMMUTABLE. -EOPNOTSUPP for a flag
	// not kept, -EPERM to change another flag of an immutable inode.
	int getflags(uint64_t ino, uint32_t *fs_flags);
	int setflags(uint64_t ino, uint32_t fs_flags);
	int fsgetxattr(uint64_t ino, struct fsxattr *fa);
	int fssetxattr(uint64_t ino, const struct fsxattr &fa);
	// copy_file_range(2) inside the server (ZUFS_OP_COPY): bytes copied.
	ssize_t copy_file_range(File &in, uint64_t off_in, File &out,
				uint64_t off_out, size_t len, unsigned flags);

	// The server's ZU_IOC_IOMAP_EXEC (see ZufCallsProxy; t2_exec.cc):
	// wait_for_done executes before returning (result in hdr.err); else
	// the iomap is checked and submitted, 0 returned, and the result
	// comes back later as ZUFS_OP_IOM_DONE (iomb, hdr.err) from the T2
	// completion thread. Async needs a T2 (else -EOPNOTSUPP).
	int iomap_exec(zufs_ioc_iomap_exec *ioc);
	// The T2 store, or null.
	iomap::T2Device *t2() const { return t2_.get(); }

	size_t cached_inodes() const { return cache_.size(); }

  private:
	using Pin = PinnedInode; // one pin for every operation

	int call(zufs_ioc_hdr *hdr, size_t size, zufs::page_list pages = {});
	// ext4_should_retry_alloc: op() answered -ENOSPC while inodes that
	// lost their last link wait for the kernel's RELEASE or FORGET to be
	// freed (inode_cache.h, pending frees): wait for a free and try op
	// again, at most kNospcRetries times and kFreeWait in all. op must
	// send its message afresh each time.
	template <typename Op> auto retry_nospc(Op op) -> decltype(op())
	{
		uint64_t seen = cache_.frees();
		auto r = op();
		const auto deadline =
			std::chrono::steady_clock::now() + kFreeWait;
		for (int n = 0; r == -ENOSPC && n < kNospcRetries &&
				cache_.wait_for_free(&seen, deadline);
		     ++n)
			r = op();
		return r;
	}
	// A FORGET comes in ms; a loaded machine may delay it for seconds.
	static constexpr auto kFreeWait = std::chrono::seconds(5);
	static constexpr int kNospcRetries = 3;
	// After a REMOVE_DENTRY or a RENAME over it: inode's free is pending
	// if that took its last link.
	void note_unlink(Inode *inode);
	int lookup_inode(Inode *dir, std::string_view name, Ref ref,
			 Inode **out);
	int new_inode(uint64_t parent, std::string_view name, mode_t mode,
		      dev_t rdev, uid_t uid, gid_t gid, Entry *out,
		      std::string_view symlink = {}, mode_t umask = 0,
		      uint64_t flags = 0); // ZI_TMPFILE: no name
	// posix_acl_create (vfs_xattr.cc): dir's default ACL masks *mode and
	// gives the ACLs of the new inode, else the umask applies.
	int inherit_acls(Inode *dir, const zus_inode &dz, mode_t *mode,
			 mode_t umask, std::string *access, std::string *deflt);
	int remove(uint64_t parent, std::string_view name, bool dir);
	int xattr_set(uint64_t ino, uint8_t type, std::string_view name,
		      std::string_view value, uint16_t user_flags);
	ssize_t xattr_get_common(uint64_t ino, int op, uint8_t type,
				 std::string_view name, std::span<char> buf);
	int readdir_page(Inode *dir, uint64_t *pos, const DirSink &sink,
			 bool *more, bool *stopped);
	IoTarget io_target(Inode *inode);
	void fill_entry(Inode *inode, Entry *out);

	// iomap::Unmapper
	void unmap(uint64_t ino, uint64_t page_index,
		   uint64_t n_pages) override;
	bool inode_size(uint64_t ino, uint64_t *i_size) override;

	zufs::Channel &channel_;
	VfsOptions opts_;
	Invalidator *inval_;
	InodeCache cache_;
	Pools pools_;
	zus_sb_info *sbi_ = nullptr;
	bool mounted_ = false;
	bool acl_ = false;

	// t2_exec.cc: open before MOUNT, closed (in-flight iomaps completed,
	// their IOM_DONE delivered) before UMOUNT. t2_mu_: shared while an
	// IOMAP_EXEC submits, exclusive to close.
	int t2_open(std::string *errmsg);
	void t2_close();
	void iom_done(zus_iomap_build *iomb, int result);
	std::shared_mutex t2_mu_;
	std::unique_ptr<iomap::T2Device> t2_;
	std::atomic<bool> exec_ok_{ false }; // mounted: IOMAP_EXEC accepted
};

// zus -> zuf: what the server gets at construction (zus::make_server).
// The server exists before the Vfs that serves it, so this forwards to a
// Vfs attached later; before that (and after detach) it answers -EINVAL.
class ZufCallsProxy final : public zufs::ZufCalls {
  public:
	void attach(Vfs *vfs) { vfs_.store(vfs); }
	int iomap_exec(zufs_ioc_iomap_exec *ioc) override;

  private:
	std::atomic<Vfs *> vfs_{ nullptr };
};

// "now" in the ns-since-epoch unit of zus_inode times.
uint64_t now_ns();

} // namespace zuf

#endif // ZUF_VFS_H
