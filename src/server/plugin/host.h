// SPDX-License-Identifier: BSD-3-Clause
//
// host.h - the runtime for a zus file system loaded from a library
// (zus.h's plugin API): zufuse's re-implementation of zus-vfs.c and of what
// zuf did for the plugin. It speaks zufs::Channel to the shim and calls
// the plugin's zus_zfi/sbi/zii operations.
//
// Contract:
//  - load_plugin() finds libNAME.so as zus did (ZUS_LIBFS_DIR, then the
//    library path, then NAME as a path), calls its register_fs() and picks
//    the file system it registered; every failure is one line in *err.
//  - PluginServer::mount() maps the --pmem image with libpmem, checks its
//    device table as zuf's mount did (magic/version against the registered
//    file system, checksum, size), runs sbi_alloc/sbi_init and checks the
//    root the plugin answers.
//  - dispatch() translates each zufuse message into the seed's call,
//    holds the VFS locks the plugin relies on (a shared/exclusive lock per
//    inode, one rename lock), writes the times zuf kept into the
//    zus_inode, and checks every answer: an inode outside the mapping, a
//    bad last_pos, block number or readdir record is -EIO for that request.
//  - Cookies the shim holds are the host's (HostInode*, the plugin sbi).
#ifndef ZUS_PLUGIN_HOST_H
#define ZUS_PLUGIN_HOST_H

#include <memory>
#include <string>
#include <vector>

#include "zufs/channel.h"

struct zus_fs_info;

namespace zus::plugin {

struct Plugin {
	void *handle = nullptr; // dlopen handle (kept for the process)
	zus_fs_info *zfi = nullptr;
	std::string path; // what was loaded
};

// name: a file system name or a path to its library.
int load_plugin(const std::string &name, Plugin *out, std::string *err);

// "NAME PATH" of every zus file system zufuse can find (--list-fs).
std::vector<std::string> list_plugins();

std::unique_ptr<zufs::Channel> make_plugin_server(const Plugin &plugin,
						  zufs::ZufCalls *zuf);

} // namespace zus::plugin

#endif // ZUS_PLUGIN_HOST_H
