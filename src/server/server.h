// SPDX-License-Identifier: BSD-3-Clause
//
// server.h - the one header the tools include to create the server (the zus
// role). Everything else under src/server is private to it.
#ifndef ZUS_SERVER_H
#define ZUS_SERVER_H

#include <cstdint>
#include <memory>
#include <string>

#include "zufs/channel.h"

namespace zus {

// A server speaking the ZUFS ABI over zufs::Channel: the runtime
// (runtime.h) serving pmfs through its door, as zus::plugin::make_server()
// (plugin/host.h) serves any zus file system the loader finds, pmfs
// included. zuf (the shim's calls back into zuf, e.g. iomap execution) may
// be null. The channel is thread-safe; it may hold several mounts.
std::unique_ptr<zufs::Channel> make_server(zufs::ZufCalls *zuf = nullptr);

// mkfs: format the image at path (created with size bytes if missing, grown
// to size if smaller; size 0 keeps the current size). Refuses an image that
// already holds a file system unless force, and a mounted (locked) image.
// Returns 0 or a negative errno with a one-line *err.
int format_image(const std::string &path, uint64_t size, bool force,
		 std::string *err);

// mkfs.zufs: format_image with e2fsprogs' manners. Nothing is created,
// grown or written before every check has passed: an image that holds a
// file system (a zufuse one, or any that libblkid recognises) or a
// partition table is refused unless force; dry_run only says what would be
// done. *said gets one line: what was (or would be) made.
struct FormatRequest {
	uint64_t size = 0; // bytes; 0: the image's size (it must exist)
	bool force = false;
	bool dry_run = false;
};
int format_image(const std::string &path, const FormatRequest &req,
		 std::string *err, std::string *said);

// fsck (read-only): check the image at path (locked while checking). Returns
// the number of problems found (0: clean), each one line in *report, or a
// negative errno with a one-line *report when the image cannot be checked.
// An image that was not cleanly unmounted may hold an uncommitted journal
// lane or orphans until it is mounted once: those are reported too.
int check_image(const std::string &path, std::string *report);

// fsck.zufs: check (repair false) or check and repair the image at path,
// which must not be mounted (it is locked while checked). Repair first
// mounts the image once through the normal recovery path when the journal
// holds an interrupted transaction or orphans are left, then fixes what it
// can in place. Returns e2fsck's exit code: 0 clean, 1 errors corrected,
// 4 errors left uncorrected, 8 operational error (the image cannot be
// opened, or is locked); *report gets one line per problem or repair.
// progress(done, total), if given, is called during the long scans.
// sum, if given, gets what was checked (checked false: nothing was).
struct FsckSummary {
	bool checked = false;
	uint64_t bytes = 0;		      // the file system's size
	uint64_t inodes = 0, inodes_used = 0; // inode table
	uint64_t files = 0, dirs = 0;	      // of the inodes in use
	uint64_t t1_blocks = 0, t1_used = 0;  // data blocks on pmem
	uint64_t t2_blocks = 0, t2_used = 0;  // blocks on tier 2
};
int fsck_image(const std::string &path, bool repair,
	       void (*progress)(uint64_t done, uint64_t total),
	       std::string *report, FsckSummary *sum = nullptr);

} // namespace zus

#endif // ZUS_SERVER_H
