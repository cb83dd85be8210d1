// SPDX-License-Identifier: BSD-3-Clause
//
// format.h - the image file (open, lock, size, map) and mkfs.
#ifndef ZUS_PMFS_FORMAT_H
#define ZUS_PMFS_FORMAT_H

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "server/persist_file.h"

namespace zus::pmfs {

// An image opened, locked (flock LOCK_EX|LOCK_NB, held until close) and
// mapped: with pmem_map_file, or -- an ordinary file on a disk -- as the
// working copy of the persistence module's file back-end (persist_file.h:
// the mapping is then that working copy, and closing the Image commits it).
// ro: nothing is ever written to the file (a file back-end maps a private
// copy). Errors are one line: "image PATH: reason". The steps are separate
// so that a caller can look at the image (and refuse) before anything is
// created, grown or written.
class Image {
  public:
	Image() = default;
	~Image();
	Image(const Image &) = delete;
	Image &operator=(const Image &) = delete;

	// Open and lock PATH; create_size != 0: a missing file is created
	// (empty: grow_file sizes it). When the lock is held but no zufuse
	// mount uses the image, its holder is a zufuse still releasing it
	// after an unmount: wait for it (up to 10 s; a line on stderr once
	// the wait passes 250 ms).
	int open_locked(const std::string &path, uint64_t create_size,
			std::string *err);
	// Another file system or a partition table that libblkid recognises
	// in the image ("a file system of type ext4", ...), or "".
	std::string foreign_signature() const;
	// The first n bytes of the image file (before it is mapped): false if
	// short.
	bool read_head(void *buf, size_t n) const;
	// Grow a regular file to want bytes (a device cannot grow), with all
	// its blocks allocated (posix_fallocate): a file system that cannot
	// hold it is refused with the shortfall in *err, and nothing is left
	// changed (a file created by open_locked is removed again). map()
	// allocates an older sparse image's blocks the same way, unless ro.
	int grow_file(const std::string &path, uint64_t want, std::string *err);
	// Make a regular file exactly want bytes (mkfs only: shrinking
	// discards what was past want). 0 keeps it as it is.
	int set_file_size(const std::string &path, uint64_t want,
			  std::string *err);
	int map(const std::string &path, std::string *err, bool ro = false);
	// open_locked + grow_file + map.
	int open(const std::string &path, uint64_t size, std::string *err,
		 bool ro = false);
	// Hand the fd, the mapping and the file back-end (or nullptr) over (to
	// the mount).
	void release(int *fd, char **base, size_t *len,
		     std::unique_ptr<FileImage> *file);

	char *base = nullptr;
	size_t len = 0;
	uint64_t size =
		0; // bytes in the file or device (0: Device-DAX, see len)
	bool created = false;
	bool regular = false;
	std::unique_ptr<FileImage> file; // the file back-end, if it applies

  private:
	int lock(const std::string &path, std::string *err);
	int fd_ = -1;
};

// The superblock mkfs writes for an image of len bytes (no magic, uuid,
// times or checksum yet): its geometry.
struct pmfs_super;
pmfs_super plan_super(size_t len);

// Write a fresh file system over the whole mapping (len bytes).
void format_mapping(char *base, size_t len);

// Every field of the superblock a mount relies on: 0, or -EINVAL and the
// reason (without the "image PATH: " prefix).
struct pmfs_super;
int validate_super(const pmfs_super &s, size_t map_len, std::string *why);

// Does the mapping start with a pmfs superblock magic?
bool has_magic(const char *base);

// Block 0 holds the superblock at offset 0 and a backup copy at
// kSuperBackupOff; with kSuperTailCopy a third copy sits in the image's
// last block (byte s_size). Every superblock update writes the primary,
// persists it, then the copies: a torn write leaves at least one valid.
inline constexpr size_t kSuperBackupOff = 2048;

// Validate the primary superblock. When it cannot be read (a checksum
// mismatch: a torn write; or, unless block0_foreign, no magic at all: a
// wiped block 0) and a copy is valid, say so in *why and, if restore, copy
// it over block 0's two copies (persisted). block0_foreign: libblkid
// recognises another file system there, which a stale copy must not
// overwrite. Returns 0 (*restored tells whether a copy was used) or
// validate_super's error and reason.
int recover_super(char *base, size_t map_len, bool restore, bool *restored,
		  std::string *why, bool block0_foreign = false);

// Write the superblock (primary, then the copies) with a fresh checksum.
void write_super(char *base, size_t map_len, pmfs_super *s);

// Does the copy in the last block (kSuperTailCopy) match the primary?
// (True for an image without one.)
bool tail_copy_ok(char *base, size_t map_len);

// The largest s_nblocks the image's bitmap and share counts can describe
// (resize.cc grows up to it).
uint64_t max_growable_blocks(const pmfs_super &s);

// Can s grow to fill an image of map_len bytes? 0, or -ENOSPC and the
// one-line reason.
int check_growth(const pmfs_super &s, uint64_t map_len, std::string *why);

// Grow the file system to fill a mapping of map_len bytes (the file was
// grown first), as resize2fs: the new blocks become free data blocks, the
// last one the tail copy. Crash-safe by order: the new blocks' bitmap
// bits (past the old end: unused), then the new tail copy, then the
// primary (the commit point), then block 0's backup. Run before the
// allocator is built. 0, or -ENOSPC and *why when the bitmap or share
// counts cannot describe the new size.
int grow_fs(char *base, size_t map_len, std::string *why);

} // namespace zus::pmfs

#endif // ZUS_PMFS_FORMAT_H
