// SPDX-License-Identifier: BSD-3-Clause
//
// persist_file_internal.h - private to the file back-end's two files
// (persist_file.cc: the working copy, its dirty bitmaps, the commit timer;
// persist_file_journal.cc: the redo journal, the commit, the checkpoint):
// the shadow's trailer and the disk I/O both do.
#ifndef ZUS_PERSIST_FILE_INTERNAL_H
#define ZUS_PERSIST_FILE_INTERNAL_H

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zus {

// The shadow's last page after the image: who it belongs to and whether it
// may be taken over. The dirty bitmaps follow it.
struct Trailer {
	uint64_t magic;
	uint64_t dev, ino, len;
	uint64_t seq;	  // the last durable commit
	int64_t mtime_s;  // the image's mtime after our last write to it,
	int64_t mtime_ns; //   valid when mtime_valid (0 while writing)
	uint64_t mtime_valid;
};

namespace file_backend {

constexpr uint64_t kPage = 4096;

inline uint64_t round_page(uint64_t n)
{
	return (n + kPage - 1) & ~(kPage - 1);
}

// All-or-nothing I/O (a short write to a disk file is an error here; a read
// past the end reads zeros).
bool pwrite_all(int fd, const void *buf, size_t n, uint64_t off);
bool pread_all(int fd, void *buf, size_t n, uint64_t off);

// A disk write or sync, seen by the crash harness (set_disk_hook); which:
// 0 the image, 1 its journal.
bool disk_write(int fd, int which, const void *buf, size_t n, uint64_t off);
bool disk_sync(int fd, int which);
// A commit is durable (the crash harness's COMMIT event).
void disk_committed();

// The journal's transaction, if whole: its page numbers (each checked to lie
// within the image of len bytes) and seq. False when there is none or it
// does not check (a commit cut short: it was never acknowledged).
bool read_journal(int jfd, uint64_t len, std::vector<uint64_t> *pages,
		  uint64_t *seq);
// Copy the journal's pages to dst: the image file (dst_fd >= 0) or memory.
bool apply_journal(int jfd, const std::vector<uint64_t> &pages, uint64_t len,
		   int dst_fd, char *dst_mem);

} // namespace file_backend

} // namespace zus

#endif // ZUS_PERSIST_FILE_INTERNAL_H
