// SPDX-License-Identifier: BSD-3-Clause
//
// host.h - how zufuse finds and serves a zus file system (zus.h's plugin
// API): zufuse's re-implementation of fs-loader.c, and make_server(), the
// runtime (runtime.h) for the file system found.
//
// Contract:
//  - load_plugin() finds libNAME.so as zus did (ZUS_LIBFS_DIR, then the
//    library path, then NAME as a path), calls its register_fs() and picks
//    the file system it registered; "pmfs" is built in (registered as a zus
//    file system with its zufuse extension). Every failure is one line in
//    *err.
//  - make_server() serves it through the one Runtime: through its zufuse
//    extension when it registered one (pmfs), else through the seed door
//    (host_door.cc), which on mount maps the --pmem image with libpmem,
//    checks its device table as zuf's mount did (magic/version against the
//    registered file system, checksum, size), runs sbi_alloc/sbi_init and
//    checks the root the plugin answers; then translates each zufuse
//    message into the seed's call, holds the VFS locks the plugin relies on
//    (a shared/exclusive lock per inode, one rename lock per mount), writes
//    the times zuf kept into the zus_inode, and checks every answer: an
//    inode outside the mapping, a bad last_pos, block number or readdir
//    record is -EIO for that request.
//  - Cookies the shim holds are the host's (HostInode*) and the plugin's
//    sbi; a process may hold several mounts.
#ifndef ZUS_PLUGIN_HOST_H
#define ZUS_PLUGIN_HOST_H

#include <memory>
#include <string>
#include <vector>

#include "zufs/channel.h"

struct zus_fs_info;

namespace zus::plugin {

// A zus file system found by load_plugin().
struct Plugin {
	void *handle = nullptr; // dlopen handle (kept for the process)
	zus_fs_info *zfi = nullptr;
	std::string path; // what was loaded ("built in" for pmfs)
};

// name: a file system name or a path to its library. Loading the same
// library again gives the file system it registered the first time.
int load_plugin(const std::string &name, Plugin *out, std::string *err);

// "NAME PATH" of every zus file system zufuse can find (--list-fs).
std::vector<std::string> list_plugins();

// The runtime serving fs; zuf may be null (no IOMAP_EXEC back).
std::unique_ptr<zufs::Channel> make_server(const Plugin &fs,
					   zufs::ZufCalls *zuf);

} // namespace zus::plugin

#endif // ZUS_PLUGIN_HOST_H
