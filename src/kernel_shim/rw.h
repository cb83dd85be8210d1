// SPDX-License-Identifier: BSD-3-Clause
//
// rw.h - the seed's fs/zuf/rw.c: the read/write data path of the shim.
//
//  - zufs_IO(): one zufs_ioc_IO per chunk of at most ZUS_API_MAP_MAX_SIZE
//    bytes / ZUS_API_MAP_MAX_PAGES pages of the iov_iter, with filepos,
//    hdr.offset (offset in the first page), hdr.len and the page
//    descriptors; the answer's last_pos says how far the server got.
//    An error after some bytes returns the bytes done (_IO_dispatch).
//  - -EZUFS_RETRY with an iomap: the iomap is executed (src/iomap) and the
//    chunk re-dispatched, at most kMaxRetries times (rw_overflow_handler).
//    GET_MULTY answers RETRY the same way (e.g. promoting a T2 block).
//  - A READ/WRITE answered with 0 and an iomap (iom_n > 0): the iomap is
//    executed as part of the request (inline: e.g. IOM_T2_READ into the
//    request's pages); its failure is the request's -EIO. A server names
//    only app pages the request covers entirely (the executor moves whole
//    pages).
//  - Everything answered is checked on a shim-owned copy before use:
//    last_pos within [filepos, filepos + len], wr_unmap within the written
//    pages, iomaps within their buffer. A bad answer is -EIO, not a crash.
//  - Reads are clipped at i_size (EOF protection) and keep a readahead
//    state per open file; writes map O_DSYNC/O_SYNC/O_DIRECT to ZUFS_IO_*.
//  - MappedRead: the zero-copy read (GET_MULTY / PUT_MULTY): the server
//    pins the pmem blocks, the caller replies from an iovec that points
//    into pool 0 (holes: a shared zero page), then release() unpins.
//    An answer with ZUFS_GBF_READ maps a prefix (maybe nothing) and asks
//    for the rest by READ (a cold T2 block the server reads inline rather
//    than promote, zus_api.h): the rest is read, with the same flags, into
//    the MappedRead's own page-aligned buffer (file offset o at buffer
//    offset o % PAGE_SIZE, so whole blocks land on whole pages) and the
//    iovec ends with it.
//
// All functions are thread-safe for distinct iov_iters / Readahead states.
#ifndef ZUF_RW_H
#define ZUF_RW_H

#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <vector>

#include "iomap/executor.h"
#include "kernel_shim/iov_iter.h"
#include "zufs/channel.h"
#include "zufs/zus_api.h"

namespace zuf {

// Bounded re-dispatch after an executed RETRY iomap; then -EIO.
constexpr int kMaxRetries = 8;

// Per-open-file readahead state (struct file_ra_state), passed in io->ra
// and stored back from the answer, as the seed does.
struct Readahead {
	uint64_t start = 0;
	uint64_t prev_pos = ~0ULL; // end of the last read; ~0: none yet
	uint32_t ra_pages = ZUFS_READAHEAD_PAGES;
};

// What an IO needs to know of the mounted file system and of the inode.
struct IoTarget {
	zufs::Channel *channel = nullptr;
	zus_inode_info *zus_ii = nullptr;
	uint64_t ino = 0;
	const zus_inode *zi = nullptr;	       // i_size for EOF clipping
	std::span<const zufs_pool_info> pools; // [0] = pmem
	iomap::Unmapper *unmapper = nullptr;   // wr_unmap / IOM_UNMAP
	iomap::T2Device *t2 = nullptr;	       // null: T2 ops are refused
};

// ZUFS_IO_* for a write with open(2)-style flags (O_DSYNC, O_SYNC,
// O_DIRECT; RWF_DSYNC/RWF_SYNC arrive as O_DSYNC/O_SYNC) on a file
// system mounted sync or not.
uint64_t write_io_flags(int oflags, bool sync_mount);
// ZUFS_IO_* for a read at pos: O_DIRECT, and ZUFS_IO_RAND when the read
// does not continue where the last one ended.
uint64_t read_io_flags(int oflags, const Readahead *ra, uint64_t pos);
// RWF_* (preadv2/pwritev2) as the O_* flags above.
int rwf_to_oflags(int rwf);

// _zufs_IO: operation is ZUFS_OP_READ or ZUFS_OP_WRITE. Advances ii by the
// bytes done. Returns bytes done, or a negative errno if none were.
ssize_t zufs_IO(const IoTarget &t, Readahead *ra, int operation, IovIter &ii,
		uint64_t pos, uint64_t flags);

// zuf_rw_read_iter: copy-based read into ii (truncated at i_size).
ssize_t rw_read(const IoTarget &t, Readahead *ra, IovIter &ii, uint64_t pos,
		uint64_t flags);
// zuf_rw_write_iter.
ssize_t rw_write(const IoTarget &t, IovIter &ii, uint64_t pos, uint64_t flags);

// The zero-copy read: blocks pinned by GET_MULTY until release().
// One per thread is enough (it keeps its buffers between requests).
class MappedRead {
  public:
	MappedRead();
	~MappedRead() { release(); }
	MappedRead(const MappedRead &) = delete;
	MappedRead &operator=(const MappedRead &) = delete;

	// The data, in file order; valid until release().
	std::span<const iovec> iov() const { return iov_; }
	size_t bytes() const { return bytes_; }
	// Of bytes(), how many were read by READ (ZUFS_GBF_READ).
	size_t copied() const { return copied_; }

	// PUT_MULTY: give the pinned blocks back. Idempotent.
	void release();

  private:
	friend ssize_t rw_read_mapped(const IoTarget &t, size_t size,
				      uint64_t pos, uint64_t flags,
				      MappedRead &out);
	zufs_ioc_IO *io()
	{
		return reinterpret_cast<zufs_ioc_IO *>(msg_.data());
	}
	int map(const IoTarget &t, uint32_t iom_cap);
	// ZUFS_GBF_READ: READ len bytes at pos into copy_; appends to iov_.
	ssize_t read_rest(const IoTarget &t, uint64_t pos, size_t len,
			  uint64_t flags);

	struct Free {
		void operator()(void *p) const { std::free(p); }
	};

	std::vector<uint64_t>
		msg_; // zufs_ioc_IO + iom_e[ZUS_API_MAP_MAX_PAGES]
	std::vector<iovec> iov_;
	size_t bytes_ = 0;
	size_t copied_ = 0;
	std::unique_ptr<std::byte, Free> copy_; // page-aligned, kept
	size_t copy_cap_ = 0;
	zufs::Channel *pinned_ = nullptr; // set while the server pins blocks
};

// GET_MULTY of up to size bytes at pos (clipped at i_size and at
// ZUS_API_MAP_MAX_PAGES pages). Returns the bytes mapped (0 at EOF) or a
// negative errno; on success the caller must out.release() after use.
ssize_t rw_read_mapped(const IoTarget &t, size_t size, uint64_t pos,
		       uint64_t flags, MappedRead &out);

// The shared zero page holes are read from.
const void *zero_page();

} // namespace zuf

#endif // ZUF_RW_H
