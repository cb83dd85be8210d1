// SPDX-License-Identifier: BSD-3-Clause
//
// fake_server.h - a small in-memory zus for the shim's unit tests: a pool 0
// with zus_inodes and 4 KiB data blocks, directories as maps, and
// reference counts per inode. It records what the shim sends (every
// zufs_ioc_IO, every EVICT/FREE) and lets a test answer any message itself
// through `hook` (RETRY, malformed answers).
#ifndef ZUF_TEST_FAKE_SERVER_H
#define ZUF_TEST_FAKE_SERVER_H

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "zufs/channel.h"
#include "zufs/zus_api.h"

namespace fake {

struct FakeInode {
	uint64_t ino = 0;
	zus_inode *zi = nullptr;
	int refs = 0;
	bool freed = false;
	std::map<std::string, uint64_t> dentries;
	std::map<uint64_t, uint64_t> blocks; // file page -> pool block
};

struct IoRecord {
	int op;
	uint64_t filepos, flags;
	uint32_t offset, len;
	size_t nump;
	__zufs_ra ra;
	void *first_page;
};

struct Release {
	int op; // ZUFS_OP_EVICT_INODE or ZUFS_OP_FREE_INODE
	uint64_t ino;
	uint64_t flags;
};

class FakeServer : public zufs::Channel {
  public:
	explicit FakeServer(size_t pool_size = 64 << 20);
	~FakeServer() override;

	int mount(zufs_ioc_mount &m) override;
	int dispatch(zufs_ioc_hdr *hdr, zufs::page_list pages) override;

	// Runs first (without the lock); returns true if it answered.
	std::function<bool(zufs_ioc_hdr *, zufs::page_list)> hook;

	// What the shim sent.
	std::vector<IoRecord> ios;
	std::vector<Release> releases;
	int mounts = 0, umounts = 0;
	int pinned = 0; // GET_MULTY blocks not yet PUT
	uint64_t last_mount_flags = 0;
	std::string last_options;

	// Server-side helpers for tests.
	FakeInode *inode(uint64_t ino);
	int refs(uint64_t ino) { return inode(ino) ? inode(ino)->refs : -1; }
	// Create a file directly on "media" (no reference given out).
	uint64_t make_file(uint64_t dir, const std::string &name,
			   uint64_t size);
	zu_dpp_t zi_dpp(uint64_t ino) const;
	uint64_t block_of(uint64_t ino, uint64_t page);
	char *pool() { return pool_; }
	size_t pool_size() const { return pool_size_; }
	zufs_ioc_IO *last_io_msg = nullptr;

	// Answer with this wr_unmap for filled holes (pages) or none.
	bool report_wr_unmap = true;

  private:
	FakeInode *new_inode(uint16_t mode);
	uint64_t alloc_block();
	int op_io(zufs_ioc_IO *io, zufs::page_list pages);
	int op_get_multy(zufs_ioc_IO *io);
	int op_readdir(zufs_ioc_readdir *rd, zufs::page_list pages);
	int op_remove(zufs_ioc_dentry *d);
	int op_setattr(zufs_ioc_attr *a);

	std::mutex lock_;
	char *pool_;
	size_t pool_size_;
	uint64_t next_block_;
	uint64_t next_ino_ = 1;
	std::map<uint64_t, std::unique_ptr<FakeInode>> inodes_;
};

} // namespace fake

#endif // ZUF_TEST_FAKE_SERVER_H
