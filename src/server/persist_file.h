// SPDX-License-Identifier: BSD-3-Clause
//
// persist_file.h - the file back-end of the persistence module: an image on
// an ordinary disk file, fast and safe when the power goes.
//
// The kernel writes dirty pages of a shared file mapping back in any order
// at any time, so pmfs cannot work on a mapping of the disk file and still
// order its undo log against its in-place updates without one msync per
// step. Instead:
//
//  - The working copy ("shadow") is a file in /dev/shm named after the
//    image's identity (device and inode). pmfs maps it and works on it as on
//    pmem. tmpfs pages are never written to the disk image, and they outlive
//    the process: a kill -9 of zufuse loses nothing (the next mount takes the
//    shadow over, rolls back the live undo lanes, as on pmem).
//  - The persistence module marks every page it is told about (flush, copy,
//    set) in a dirty bitmap that lives in the shadow too (so it also
//    survives a kill -9).
//  - At a commit point (fsync, fdatasync, O_DSYNC, sync/syncfs, a timer of
//    5 s, unmount) the pmfs journal's lanes are quiesced (the commit
//    barrier: no transaction is half-way, so the shadow is a consistent
//    image, the same as a crash state on pmem), the dirty pages are copied
//    out and the barrier is released (the fdatasyncs come after):
//      * a page whose block was free in the last committed image ("fresh":
//        nothing committed can reach it) goes straight home, as ext4's
//        ordered mode writes data before the metadata that points at it;
//      * so does file data overwritten in place (mark_data) in a block
//        that kept its owner, as ext4 writes such data in place;
//      * every other page goes to a redo journal, the file IMAGE.journal:
//        one transaction (head, page numbers, pages, one crc32c over them).
//    Home writes go in offset order, neighbours in one pwrite; journal
//    pages are copied to memory (the stage). Then:
//    fdatasync(image) (the fresh pages, and the previous checkpoint,
//    before this transaction can be replayed or overwrite the journal the
//    checkpoint came from), write the journal, fdatasync(journal): the
//    commit is durable. Then the journal's pages are written home from
//    the stage (checkpoint) with no fdatasync of their own: the next commit's first
//    one makes them durable before it writes the journal, and until then
//    the journal still holds them (unmount syncs them).
//  - Data without a commit (write_data, sync_data: O_DSYNC and fdatasync of
//    a file whose metadata is committed): file data overwritten in place
//    (mark_data) goes home with pwrite and one fdatasync of the image; no
//    journal transaction, the times follow with the next commit (as ext4's
//    fdatasync). Only pages that nothing else names: not marked by
//    mark() (a block that changed hands or metadata), not in a commit
//    under way, and not in the journal's transaction on disk (journaled_:
//    a replay would put its older copy back over the newer data). Any
//    such page: a commit instead. A commit, for the same reason, journals
//    again a data page the journal on disk holds (it never goes home
//    under a transaction that a replay would lay over it).
//  - After an OS crash (no shadow): the journal's transaction, if its crc
//    checks, is replayed home, and a new shadow is copied from the image
//    (sparse: holes stay holes). At most the last commit interval of
//    unsynced work is lost; the image is always a committed state.
//  - Read-only opens never write: a private mapping of the shadow, or of the
//    image with the journal applied in memory.
//
// Nothing here knows pmfs's format beyond two facts it is told: the commit
// barrier (set_barrier) and where the allocation bitmap is
// (track_allocation; bit n set: page n is in use).
//
// Thread safety: mark() from any thread, lock-free. commit() from any
// thread; commits are serialized, and a commit covers every page marked
// before it started. write_data() and sync_data() from any thread (they
// take the commit lock to write, not for their fdatasync).
#ifndef ZUS_PERSIST_FILE_H
#define ZUS_PERSIST_FILE_H

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace zus {

// What a crash harness sees of the file back-end's disk I/O (set_disk_hook):
// every pwrite (which: 0 the image, 1 its journal; off, bytes), every
// fdatasync (which), and COMMIT (which -1) from the thread of a commit
// when it returns 0: everything marked before it started is durable.
enum class DiskEvent { WRITE, SYNC, COMMIT };
using DiskHook = void (*)(DiskEvent ev, int which, uint64_t off,
			  const void *buf, size_t len);
void set_disk_hook(DiskHook hook);

class FileImage {
  public:
	// Is fd (an image opened O_RDWR) on a file system where the file
	// back-end applies (a regular file, not tmpfs)? ZUFUSE_FILE_BACKEND=0
	// in the environment turns it off (every flush an msync, as before).
	static bool wanted(int fd);
	// Open the working copy of the image file fd (len bytes; fd stays the
	// caller's). path names the image in messages and the journal
	// (path + ".journal"). On error: negative errno and *err.
	static int open(int fd, const std::string &path, size_t len, bool ro,
			std::unique_ptr<FileImage> *out, std::string *err);
	// Unmounted cleanly (not abandoned, not read-only): a last commit, the
	// checkpoint, then the shadow and the journal are removed.
	~FileImage();
	FileImage(const FileImage &) = delete;
	FileImage &operator=(const FileImage &) = delete;

	char *base() const { return base_; }
	size_t len() const { return len_; }
	// What open() had to do ("" when the image was clean): for the mount's
	// message.
	const std::string &recovered() const { return recovered_; }
	// The FileImage whose working copy holds addr, or nullptr.
	static FileImage *find(const void *addr);

	// Pages [addr, addr+len) changed: the next commit writes them.
	void mark(const void *addr, size_t len);
	// The same for file data overwritten in place in a block its file
	// owned since the last commit (no metadata depends on it): the commit
	// writes such a page home directly unless mark() also named it (or
	// the journal on disk holds it: then it is journaled again).
	void mark_data(const void *addr, size_t len);
	// Make every change marked so far durable. 0 or -errno (-EIO).
	int commit();

	// Commit epochs: a change made (and marked) before epoch() returned e
	// is durable once committed(e). 0 before the first commit.
	uint64_t epoch() const
	{
		return started_.load(std::memory_order_seq_cst);
	}
	bool committed(uint64_t e) const
	{
		return durable_.load(std::memory_order_acquire) > e;
	}
	// The pages of [addr, addr+len) of each span (file data overwritten in
	// place, mark_data(), in blocks whose owner the caller holds still) are
	// durable: written home and one fdatasync, or a commit when a page is
	// named elsewhere (see above). The caller vouches that no metadata the
	// data depends on is uncommitted. 0 or -EIO.
	struct Span {
		const void *addr;
		size_t len;
	};
	int write_data(const Span *spans, size_t n);
	// fdatasync for a file whose metadata is committed: every page marked
	// only by mark_data() is durable, as write_data() makes them (or a
	// commit). 0 or -EIO.
	int sync_data();
	// Called with true before a commit copies pages out (the caller then
	// makes no change that could leave the image inconsistent), false after.
	void set_barrier(std::function<void(bool enter)> fn);
	// The allocation bitmap (bit n set: page n in use), for "fresh" pages.
	void track_allocation(const void *bitmap, uint64_t nbits);
	// Commit every interval_ms (and when much is dirty) from a thread.
	void start_timer(unsigned interval_ms);
	void stop_timer(); // start_timer starts it again
	// A simulated crash: leave the shadow as it is (a kill -9).
	void abandon() { abandoned_ = true; }

	struct Stats {
		uint64_t commits = 0, journaled = 0, home = 0; // pages
		// write_data/sync_data: done without a commit, pages so
		// written, and those that took a commit instead.
		uint64_t data_syncs = 0, data_pages = 0, data_commits = 0;
		// Nanoseconds: waiting for the lanes, holding them (the request
		// threads' pause), the fdatasyncs of the commit, the checkpoint.
		uint64_t wait_ns = 0, held_ns = 0, max_held_ns = 0, sync_ns = 0,
			 ckpt_ns = 0;
	};
	Stats stats() const;

  private:
	FileImage() = default;
	int open_rw(std::string *err);
	int open_ro(std::string *err);
	int commit_locked();
	bool named_elsewhere(uint64_t p) const;
	void data_failed();
	bool write_home(const uint64_t *pages, size_t n, const char *buf);
	void checkpoint(const std::vector<uint64_t> &pages, const char *buf);
	bool adopt_shadow();
	int build_shadow(std::string *err);
	void note_image_written();
	void set_bitmaps(uint64_t toff, uint64_t bm);
	void mark_in(uint64_t *bits, const void *addr, size_t len);
	void timer_loop(unsigned interval_ms);

	std::string path_, shadow_path_, journal_path_;
	int fd_ = -1, jfd_ = -1;
	bool ro_ = false, abandoned_ = false;
	std::atomic<bool> failed_{ false };
	dev_t dev_ = 0;
	ino_t ino_ = 0;
	char *base_ = nullptr; // the shadow mapping: image, trailer, bitmaps
	size_t len_ = 0;       // image bytes
	size_t map_len_ = 0;   // the whole shadow mapping
	uint64_t npages_ = 0;
	struct Trailer *trailer_ = nullptr;
	uint64_t *live_ = nullptr;	 // dirty since the last barrier
	uint64_t *committing_ = nullptr; // taken by a commit not yet durable
	uint64_t *data_live_ = nullptr;	 // the same for mark_data()
	uint64_t *data_committing_ = nullptr;
	uint64_t nwords_ = 0;
	std::string recovered_;

	std::mutex commit_mu_;
	std::function<void(bool)> barrier_;
	const uint64_t *alloc_ = nullptr; // in the shadow
	uint64_t alloc_bits_ = 0;
	std::vector<uint64_t> committed_alloc_; // alloc_ as last committed
	// The pages of the journal's transaction on disk (a replay writes
	// them); under commit_mu_.
	std::vector<uint64_t> journaled_;
	std::atomic<uint64_t> started_{ 0 }; // commits that took the barrier
	std::atomic<uint64_t> durable_{ 0 }; // the last of them made durable
	uint64_t seq_ = 0;
	std::vector<char> stage_;    // a commit's pages (commit_locked)
	bool ckpt_unsynced_ = false; // the last checkpoint awaits an fdatasync
	Stats stats_;
	std::vector<uint64_t> data_pages_; // sync_data()'s, under commit_mu_
	std::atomic<uint64_t> data_syncs_{ 0 }, data_written_{ 0 },
		data_commits_{ 0 };

	std::atomic<uint64_t> dirty_new_{ 0 };
	std::mutex timer_mu_;
	std::condition_variable timer_cv_;
	bool timer_stop_ = false, timer_kick_ = false;
	std::thread timer_;
};

} // namespace zus

#endif // ZUS_PERSIST_FILE_H
