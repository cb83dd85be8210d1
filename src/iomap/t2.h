// SPDX-License-Identifier: BSD-3-Clause
//
// t2.h - the tier-2 device: a block device or a file holding 4 KiB blocks,
// reached only through iomap ops the shim executes (zuf's t2.c).
//
// Contract:
//  - open() takes a block device or a regular file; it is opened with
//    O_DIRECT when the file system allows it (not on tmpfs, where it only
//    makes io_uring punt every read to a worker), buffered otherwise. A
//    file may be created / grown to size_bytes; the size is whole 4 KiB
//    blocks. The file is flock()ed: one zufuse per T2.
//  - I/O is a batch of page moves (T2Page). All pages of one batch are
//    submitted together (Boost.Asio random_access_file over io_uring, runs
//    of consecutive blocks merged into one readv/writev) and awaited
//    together. Any error in the batch makes the batch's result -EIO; the
//    device stays usable.
//  - A batch that wrote is made durable (fdatasync) before its result is
//    reported.
//  - rw() is synchronous and thread-safe; it runs in the calling thread on
//    an io_uring of its own (no thread hop).
//  - rw_async() returns at once. done(result) runs later on the device's
//    completion thread (never inside rw_async), one call at a time, in the
//    order the rw_async calls were made (FIFO, even if a later batch's I/O
//    finishes first). done may call rw() or rw_async() again.
//  - The destructor waits for all batches in flight and runs their done.
//  - Memory named by a T2Page must stay valid until the batch completes;
//    with O_DIRECT it must be 4 KiB aligned (a refused unaligned or direct
//    transfer is retried buffered).
//  - This header does not include Boost.Asio: users need no compile flags.
#ifndef ZUFS_IOMAP_T2_H
#define ZUFS_IOMAP_T2_H

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace iomap {

inline constexpr uint64_t kT2BlockSize = 4096;

// One page to move: write = memory -> T2 block bn; read = T2 block -> memory.
struct T2Page {
	uint64_t bn;
	void *mem;
	bool write;
};

struct T2Stats {
	uint64_t batches = 0;
	uint64_t ops = 0; // readv/writev submitted (after merging)
	uint64_t pages_read = 0;
	uint64_t pages_written = 0;
	uint64_t errors = 0;
};

class T2Device {
  public:
	using Done = std::function<void(int result)>;

	// Opens (or, when size_bytes != 0 and path is not a block device,
	// creates/grows) the T2 store. 0 or a negative errno; on error *msg
	// (if given) holds one line for the user.
	static int open(const std::string &path, uint64_t size_bytes,
			std::unique_ptr<T2Device> *out,
			std::string *msg = nullptr);

	~T2Device();
	T2Device(const T2Device &) = delete;
	T2Device &operator=(const T2Device &) = delete;

	uint64_t size_blocks() const;
	bool direct() const;
	const std::string &path() const;
	T2Stats stats() const;

	// Submit every page, wait for all. 0, -EIO, or -ENOMEM.
	int rw(std::span<const T2Page> pages);

	// Submit every page and return 0; done(0 or -EIO) later (see above).
	// -ENOMEM if the batch cannot be allocated (then done is not called).
	int rw_async(std::vector<T2Page> pages, Done done);

	struct Impl;

  private:
	explicit T2Device(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

} // namespace iomap

#endif // ZUFS_IOMAP_T2_H
