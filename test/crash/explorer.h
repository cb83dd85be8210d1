// SPDX-License-Identifier: BSD-3-Clause
//
// explorer.h - the crash-state explorer.
//
// Recording: a persistence hook (zus::set_persist_hook) logs, in order,
// every store that reaches the image through the persistence module: each
// flushed range with its bytes as they were when flushed, each store made
// without a flush (captured at the next event), and each fence (drain).
// A SYNC_ALL is recorded as the pages that differ from what was logged, then
// a fence. The file system code is not changed.
//
// Exploring: for each fence k, the durable image is the starting image plus
// every store before fence k; the stores logged between fences k and k+1
// are in flight. Crash images: none of them, all of them, and a bounded
// number of random subsets (at 64-byte cache-line granularity). Each crash
// image is mounted through the normal recovery path, checked with the fsck
// core (no error allowed; before that, mounted read-only -- journal rolled
// back, nothing finished yet -- the orphan table must already list every
// orphan and interrupted truncation), its tree read back through the ABI and compared
// with the oracle: the model state after the last operation that returned
// before fence k, or after any later operation that had started before
// fence k+1 (each operation all-or-nothing; bytes overwritten without a
// sync may be old or new).
#ifndef ZUFS_TEST_CRASH_EXPLORER_H
#define ZUFS_TEST_CRASH_EXPLORER_H

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "../server/harness.h"

namespace zcrash {

struct Node {
	char type = 'f';	  // f file, d dir, l symlink, o other
	std::string data;	  // file contents
	std::vector<bool> unsure; // per byte: overwritten, not yet synced
	std::map<std::string, std::string> xattrs; // "user.a" -> value
};
using Model = std::map<std::string, Node>; // "a/b" -> node (root not listed)

struct Op {
	std::string name;
	// Does the operation on fs and the same change on the model.
	std::function<void(ztest::Fs &, Model &)> run;
	// An O_DSYNC write (op_write with dsync): once it returned, its bytes
	// [dsync_pos, +dsync_len) of dsync_path are on the disk, whether or
	// not it committed anything else (explore_file checks them).
	// (dsync_len UINT64_MAX: the whole file, an fdatasync.)
	std::string dsync_path = {};
	uint64_t dsync_pos = 0, dsync_len = 0;
};

struct Workload {
	std::string name;
	std::vector<Op> setup; // run before recording starts
	std::vector<Op> ops;   // recorded and explored
	// > 0: the file system has a tier 2 of this many blocks (a file in
	// /dev/shm, iomaps executed through src/iomap as the shim does). T2
	// is not in the recorded image: its content is snapshotted after each
	// iomap, and a crash image at fence k is mounted with the T2 as it
	// was when fence k+1 came (writes racing the crash may have landed;
	// a T2 block reused before the free that allowed it is durable shows).
	uint64_t t2_blocks = 0;
};

struct Stats {
	uint64_t fences = 0, states = 0, failures = 0;
	std::string first_failure;
	// explore_file: the recording's O_DSYNC/fdatasync data syncs made
	// without a commit, and those that took a commit instead.
	uint64_t data_syncs = 0, data_commits = 0;
};

struct Options {
	int samples = 2; // random in-flight subsets per fence
	uint32_t seed = 1;
	int max_failures_reported = 3;
};

Stats explore(const Workload &w, const Options &o);

// The same workload on the file back-end (server/persist_file.h): the image
// is a file in disk_dir, mounted with commit=0 (no timer), and the explorer
// commits (sync_all) after every commit_every-th operation, as the timer
// would. Recorded: every pwrite and fdatasync of the image and of its
// journal (zus::set_disk_hook). A crash at any fdatasync (and at the end)
// leaves each file as its writes before its last fdatasync plus any subset
// (4 KiB pages) of its later writes. Each crash state's files are copied to
// a new image (no working copy in /dev/shm: as after a reboot), mounted
// read-only (the journal applied in memory), then read-write (replayed),
// checked with fsck and against the oracle: every operation that ended
// before a commit that returned is there; later ones all-or-nothing; the
// bytes of every O_DSYNC write that returned (Op::dsync_path) are there,
// unless an operation after it that may have run changes them. A commit is
// a COMMIT disk event from the operation's own thread: an O_DSYNC write
// that only wrote its data home (FileImage::write_data) is not one.
// timer: instead, a thread commits over and over while the operations run
// (commits in the middle of operations; the recording differs run to run).
Stats explore_file(const Workload &w, const Options &o,
		   const std::string &disk_dir, int commit_every = 2,
		   bool timer = false);

// Helpers for workloads (they REQUIRE success).
ztest::Inode resolve(ztest::Fs &fs, const std::string &path); // a reference
void put(ztest::Fs &fs, ztest::Inode i);
std::string dirname_of(const std::string &p);
std::string basename_of(const std::string &p);

Op op_create(const std::string &path, char type = 'f');
Op op_symlink(const std::string &path, const std::string &target);
Op op_link(const std::string &from, const std::string &to);
Op op_unlink(const std::string &path); // files, symlinks and empty dirs
Op op_rename(const std::string &from, const std::string &to,
	     uint64_t flags = 0);
Op op_write(const std::string &path, uint64_t pos, const std::string &data,
	    bool dsync);
Op op_truncate(const std::string &path, uint64_t size);
Op op_sync();
// fdatasync(2) of path (ZUFS_OP_SYNC, ZUFS_SF_DATASYNC): its bytes durable.
Op op_datasync(const std::string &path);
// FALLOCATE with mode FALLOC_FL_* over [off, off+len).
Op op_fallocate(const std::string &path, uint64_t mode, uint64_t off,
		uint64_t len);
// XATTR_SET in the user namespace (flags: XATTR_CREATE, XATTR_REPLACE,
// ZUFS_XATTR_REMOVE).
Op op_xattr(const std::string &path, const std::string &name,
	    const std::string &value, uint16_t flags = 0);
// COPY (copy_file_range) of len bytes from src@pin to dst@pout.
Op op_copy(const std::string &src, uint64_t pin, const std::string &dst,
	   uint64_t pout, uint64_t len);
// Open files: op_open takes a reference on path under the handle name (as
// an open file descriptor does), op_close drops it (FREE_INODE when the
// inode has no name left: it is freed then). Unlinking an open file leaves
// an orphan that recovery must free. op_truncate_open truncates through
// the handle (the file may have no name).
Op op_open(const std::string &path, const std::string &handle);
Op op_close(const std::string &handle);
Op op_truncate_open(const std::string &handle, uint64_t size);
// O_TMPFILE in the root (an open file with no name, an orphan until
// linked) and linkat() of an open handle to a new name.
Op op_tmpfile(const std::string &handle);
Op op_link_open(const std::string &handle, const std::string &to);
// Tier 2 (Workload::t2_blocks): move block idx of path to T2 (the test
// hook: a synchronous IOMAP_EXEC, then the leaf switch); -ENOSPC (T2 full)
// is accepted when may_fail. The content does not change.
Op op_evict(const std::string &path, uint64_t idx, bool may_fail = false);
// tier_make_room: evict cold blocks until want T1 blocks are free.
Op op_make_room(uint64_t want);
// READ of [pos, pos+len) checked against the model: a server-internal
// read promotes the T2 blocks it touches (a synchronous IOMAP_EXEC, then
// the leaf back to T1); cold (ZUFS_IO_RAND, with iomap room): served from
// T2 in place by IOM_T2_READ_LEN, nothing moves.
Op op_read(const std::string &path, uint64_t pos, uint64_t len,
	   bool cold = false);

} // namespace zcrash

#endif // ZUFS_TEST_CRASH_EXPLORER_H
