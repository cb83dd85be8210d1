// SPDX-License-Identifier: BSD-3-Clause
//
// mount_options.h - the zufuse command line, parsed in one place, and the
// option text the server receives at mount (zmi.po.mount_options).
#ifndef ZUF_MOUNT_OPTIONS_H
#define ZUF_MOUNT_OPTIONS_H

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace zuf {

struct CommandLine {
	std::string mountpoint;
	std::string pmem;
	std::string fs; // --fs=NAME: a zus file system (plugin); "" = pmfs
	bool list_fs = false; // --list-fs
	uint64_t size = 0;    // 0: not given
	std::string t2;	      // --t2=PATH: the tier-2 store ("" = none)
	uint64_t t2_size = 0; // --t2-size / --t2=PATH,SIZE (0: as it is)
	bool mkfs = false;
	bool direct_io = false;
	bool uring = false;    // --uring: io_uring even with -s
	bool no_uring = false; // --no-uring: /dev/fuse only
	bool foreground = false;
	bool single_thread = false;
	bool debug = false;
	bool help = false;
	bool version = false;
	bool read_only = false; // from -o ro
	bool sync = false;	// from -o sync
	bool acl = true;	// -o acl (default) / -o noacl
	bool noatime = false;	// -o noatime (default: relatime)
	int commit_s = -1; // -o commit=SECONDS (file back-end; -1: default)
	bool strictatime = false; // -o strictatime: every read
	bool nodiratime = false;  // -o nodiratime: readdir leaves it
	bool dirsync = false;	  // -o dirsync: namespace ops durable
	// -o remount[,...]: change the flags of the zufuse mounted on
	// MOUNTPOINT (remount()) instead of mounting.
	bool remount = false;
	// The MS_* flags the standard VFS options given ask for (ro, nosuid,
	// nodev, noexec, sync, dirsync, noatime, nodiratime, strictatime,
	// lazytime), for a remount.
	unsigned long ms_flags = 0;
	std::vector<std::string> fuse_opts; // each -o value, minus ours
};

// "123", "4K", "512M", "1G", "2T" (case-insensitive; K = 1024) -> bytes.
// False for anything else, zero, or an overflow.
bool parse_size(std::string_view text, uint64_t *bytes);

// Parse argv. On error returns false and *error is the one line to print
// after "zufuse: " (e.g. "unknown option '--x' (see --help)").
bool parse_command_line(int argc, const char *const *argv, CommandLine *cl,
			std::string *error);

// -o remount: mount(2) with MS_REMOUNT and cl.ms_flags on cl.mountpoint.
// FUSE takes a remount as the VFS's (sb and mount flags: ro, nosuid,
// noexec, ...); then the running zufuse is told through its control socket
// (control.h), which tells its server (ZUFS_M_REMOUNT). A server that
// refuses rw (a mount made read-only) puts the kernel back to ro and the
// remount fails; one that cannot be reached leaves a line on stderr. 0, or
// -errno and *error.
int remount(const CommandLine &cl, std::string *error);

// "pmem=PATH[,size=BYTES][,mkfs][,ro][,noacl][,noatime|strictatime]
// [,nodiratime][,commit=S]" for the
// server. (The shim adds "t2size=BYTES" itself once it has opened the T2
// store: Vfs::mount.)
std::string server_options(const CommandLine &cl);

// The --help text (keep it true).
extern const char kUsage[];

} // namespace zuf

#endif // ZUF_MOUNT_OPTIONS_H
