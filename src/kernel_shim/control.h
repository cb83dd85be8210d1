// SPDX-License-Identifier: BSD-3-Clause
//
// control.h - how zufusectl reaches a running mount: a unix socket named
// after the mount's device number, and the messages on it. Shared by the
// listening side in zufuse (control_thread.h) and by zufusectl.
//
// The socket: DIR/MAJOR:MINOR.sock, where MAJOR:MINOR is the FUSE mount's
// st_dev (as stat(2) on any path inside the mount and /proc/self/mountinfo
// show it) and DIR is /run/zufuse for a zufuse run by root, else
// $XDG_RUNTIME_DIR/zufuse. The socket is mode 0600 (its owner and root only;
// the listener also checks the peer's uid).
//
// One request per connection: the client writes one line, the server
// answers and closes.
//   "stats\n", "stats reset\n"  -> StatsHeader, then n_ops OpRecord
//                                  ("reset": the counters restart after
//                                  this snapshot, with nothing lost between)
//   "debug [WORDS]\n"           -> text: "debug: CLASSES (lines to SINK)\n",
//                                  or "error: ...\n"; WORDS as
//                                  stats::parse_mask takes them
//   "remount OPTS\n"            -> "ok\n", "unsupported: ...\n" (a file
//                                  system without remount) or
//                                  "error: ...\n": the kernel
//                                  took a remount (zufuse -o remount);
//                                  tell the server (ZUFS_M_REMOUNT) its
//                                  options OPTS ("noatime,commit=5"...)
//                                  and the read-only state mountinfo
//                                  shows now
// Anything else -> "error: ...\n".
#ifndef ZUF_CONTROL_H
#define ZUF_CONTROL_H

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "kernel_shim/stats.h"
#include "zufs/zus_api.h"

namespace zuf::control {

constexpr uint32_t kMagic = 0x5453465a; // "ZFST"
constexpr uint32_t kVersion = 1;

struct StatsHeader {
	uint32_t magic;
	uint32_t version;
	uint32_t n_ops;	  // OpRecords that follow (the opcodes seen)
	uint32_t buckets; // stats::kBuckets
	uint64_t ns_since_reset;
	uint64_t ns_since_mount;
	int32_t server_err; // the ZUFS_OP_STATS answer: 0 or -errno
	uint32_t pad;
	// The server's answer; its counters since the reset (space as it is
	// now). hdr and zus_sbi are zeroed.
	zufs_ioc_stats server;
};

struct OpRecord {
	uint32_t slot; // stats::op_name(slot)
	uint32_t pad;
	stats::OpCounters c;
};

// The directory this process would put its socket in ("" if none).
std::string socket_dir();
// DIR/MAJOR:MINOR.sock
std::string socket_path(const std::string &dir, dev_t dev);

// From /proc/self/mountinfo: the device number of the FUSE mount on
// @mountpoint (the topmost one; @mountpoint canonical, as realpath gives
// it). 0 if there is none.
dev_t fuse_mount_dev(const std::string &mountpoint);

// The mount whose device is @dev: its file-system type ("fuse.zufuse"),
// mount point, source and the uid of the FUSE server's user (user_id=, -1
// if none). False if no mount has that device.
struct MountEntry {
	std::string fstype, mountpoint, source;
	long user_id = -1;
	bool read_only = false;		    // the super block's "ro"
	bool sync = false, dirsync = false; // its "sync", "dirsync"
};
bool mount_of_dev(dev_t dev, MountEntry *out);
// The mount on @mountpoint (canonical; the topmost one). False if none.
bool mount_at(const std::string &mountpoint, MountEntry *out);

// One request on the socket at @path: send @line (no newline), read the
// whole answer, waiting at most @timeout_s seconds for each part of it
// (a read-only remount syncs first). False with *err a one-line reason and
// errno set.
bool request(const std::string &path, const std::string &line,
	     std::string *reply, std::string *err, int timeout_s = 30);

} // namespace zuf::control

#endif // ZUF_CONTROL_H
