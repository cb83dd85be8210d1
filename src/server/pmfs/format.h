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
// copy). Errors are one line: "image PATH: reason".
class Image {
  public:
	Image() = default;
	~Image();
	Image(const Image &) = delete;
	Image &operator=(const Image &) = delete;

	// size != 0: create a missing file of that size, grow a smaller one.
	// An image file gets all its blocks allocated when it is created or
	// grown and, unless ro, when it is opened (an old sparse image): a
	// file system too full for it is refused with the shortfall in *err,
	// and nothing is changed (a file created here is removed again).
	// Devices are left as they are.
	int open(const std::string &path, uint64_t size, std::string *err, bool ro = false);
	// Hand the fd, the mapping and the file back-end (or nullptr) over (to
	// the mount).
	void release(int *fd, char **base, size_t *len, std::unique_ptr<FileImage> *file);

	char *base = nullptr;
	size_t len = 0;
	bool created = false;
	std::unique_ptr<FileImage> file; // the file back-end, if it applies

  private:
	int fd_ = -1;
};

// Write a fresh file system over the whole mapping (len bytes).
void format_mapping(char *base, size_t len);

// Every field of the superblock a mount relies on: 0, or -EINVAL and the
// reason (without the "image PATH: " prefix).
struct pmfs_super;
int validate_super(const pmfs_super &s, size_t map_len, std::string *why);

// Does the mapping start with a pmfs superblock magic?
bool has_magic(const char *base);

// Block 0 holds the superblock at offset 0 and a backup copy at
// kSuperBackupOff. Every superblock update writes the primary, persists it,
// then the backup: a torn write leaves at least one valid copy.
inline constexpr size_t kSuperBackupOff = 2048;

// Validate the primary superblock; when only its checksum is wrong (a torn
// write) and the backup copy is valid, say so in *why and, if restore,
// copy the backup over the primary (persisted). Returns 0 (*restored tells
// whether the backup was used) or validate_super's error and reason.
int recover_super(char *base, size_t map_len, bool restore, bool *restored, std::string *why);

// Write the superblock (primary, then backup) with a fresh checksum.
void write_super(char *base, size_t map_len, pmfs_super *s);

} // namespace zus::pmfs

#endif // ZUS_PMFS_FORMAT_H
