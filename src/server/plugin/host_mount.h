// SPDX-License-Identifier: BSD-3-Clause
//
// host_mount.h - private to src/server/plugin: PluginMount, one mounted
// zus plugin served through the seed door (host_door.cc: the runtime's
// handlers), split over host_mount.cc (mount, the device table, umount,
// statfs), host_namei.cc (inodes and names), host_file.cc (data and
// attributes) and host_xattr.cc: one zufuse message, one seed call each,
// with app_buf.h for the application's bytes. HostInode is the
// cookie the shim holds for a plugin's zii; the mount's cookie is the
// plugin's own zus_sb_info.
#ifndef ZUS_PLUGIN_HOST_MOUNT_H
#define ZUS_PLUGIN_HOST_MOUNT_H

#include <cstdint>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "server/plugin/host.h"
#include "zufs/zus_api.h"
// The plugin's view of the seed's messages, named apart (zus/zus_api.h).
#define ZUS_SEED_TAG(name) zus_seed_##name
#include "zus/zus.h"
#include "libzus/zus_host.h"

namespace zus::plugin {

inline uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

// A plugin's errno answer; anything else is a malformed answer.
inline int sane(int err, const char *op)
{
	if (err > 0 || err < -4095) {
		std::fprintf(stderr, "zufuse: plugin: %s answered %d\n", op,
			     err);
		return -EIO;
	}
	return err;
}

inline int bad(const char *what)
{
	std::fprintf(stderr, "zufuse: plugin: %s\n", what);
	return -EIO;
}

class PluginMount;

// The shim's cookie for one plugin zii, with the VFS's i_rwsem.
struct HostInode {
	zus_inode_info *zii;
	PluginMount *m; // its mount
	uint64_t ino;	// its key in m's inode cache
	std::shared_mutex rw;
};

inline HostInode *hi(zus_inode_info *cookie)
{
	return reinterpret_cast<HostInode *>(cookie);
}

class PluginMount {
  public:
	PluginMount(zus_fs_info *zfi, zufs::ZufCalls *zuf)
	    : zfi_(zfi), zuf_(zuf)
	{
	}
	~PluginMount() { teardown(); }

	// ZUFS_M_MOUNT: m.zmi.zus_sbi answers the plugin's sbi.
	int mount(zufs_ioc_mount &m);
	zus_sb_info *sbi() const { return sbi_; }
	zufs::ZufCalls *zuf() const { return zuf_; }

	// The seed door's handlers: one zufuse message each.
	int new_inode(zufs_ioc_new_inode *ioc, zufs::page_list pages);
	int evict(zufs_ioc_evict_inode *ioc, bool free);
	int lookup(zufs_ioc_lookup *ioc);
	int dentry(zufs_ioc_dentry *ioc, bool add);
	int rename(zufs_ioc_rename *ioc);
	int readdir(zufs_ioc_readdir *ioc, zufs::page_list pages);
	int io(zufs_ioc_IO *ioc, zufs::page_list pages, bool write);
	int get_multy(zufs_ioc_IO *ioc);
	int put_multy(zufs_ioc_IO *ioc);
	int setattr(zufs_ioc_attr *ioc);
	int sync(zufs_ioc_sync *ioc);
	int sync_fs();
	int fallocate(zufs_ioc_IO *ioc);
	int seek(zufs_ioc_seek *ioc);
	int xattr(zufs_ioc_xattr *ioc, zufs::page_list pages);
	int statfs(zufs_ioc_statfs *ioc);

  private:
	int map_image(const std::string &path, std::string *why);
	int check_table(std::string *why);
	void teardown();

	// The zus_inode a plugin answered: inside T1, 128-aligned, its ino.
	bool zi_ok(const zus_inode *zi) const
	{
		auto p = reinterpret_cast<uintptr_t>(zi);
		auto b = reinterpret_cast<uintptr_t>(base_);
		return zi && p >= b + PAGE_SIZE &&
		       p + sizeof(*zi) <= b + t1_len_ &&
		       !((p - b) % sizeof(*zi));
	}
	bool zii_ok(const zus_inode_info *zii) const
	{
		return zii && zii->op && zi_ok(zii->zi);
	}
	HostInode *wrap(zus_inode_info *zii)
	{
		if (!zii->sbi)
			zii->sbi = sbi_;
		return new HostInode{ zii, this, zii->zi->i_ino, {} };
	}
	zu_dpp_t offset_of(const zus_inode *zi) const
	{
		return reinterpret_cast<const char *>(zi) - base_;
	}
	void touch(zus_inode *zi, bool mtime, uint64_t t = 0)
	{
		if (!t)
			t = now_ns();
		if (mtime)
			zi->i_mtime = t;
		zi->i_ctime = t;
	}

	zus_fs_info *zfi_;
	zufs::ZufCalls *zuf_;
	std::string path_;
	int fd_ = -1;
	char *base_ = nullptr;
	size_t map_len_ = 0, t1_len_ = 0;
	md_dev_table mdt_ = {};
	zus_sb_info *sbi_ = nullptr;
	HostInode *root_ = nullptr;
	int is_pmem_ = 0;
	bool sbi_fini_ok_ = false; // sbi_init ran: sbi_fini undoes it
	std::mutex rename_mu_;	   // the VFS's s_vfs_rename_mutex
	// The inode cache zuf had in the kernel: one HostInode per inode, so
	// a repeated lookup answers the cookie the shim already holds (zuf's
	// iget found its inode; a seed plugin's iget is called once). refs
	// counts the answers the shim holds (each lookup or create answer is
	// one, each EVICT gives one back); at 0 a linked inode stays here,
	// its zii alive, until it is looked up again or the file system is
	// unmounted, as the VFS keeps clean inodes. The root is here from
	// mount on with a reference of its own.
	struct Cached {
		HostInode *h;
		uint64_t refs;
	};
	std::mutex icache_mu_;
	std::unordered_map<uint64_t, Cached> icache_;
	// The cached inode ino with one more answer held; nullptr if none.
	HostInode *hold(uint64_t ino)
	{
		std::lock_guard lk(icache_mu_);
		auto it = icache_.find(ino);
		if (it == icache_.end())
			return nullptr;
		++it->second.refs;
		return it->second.h;
	}
	bool cached(uint64_t ino)
	{
		std::lock_guard lk(icache_mu_);
		return icache_.count(ino);
	}
	// A fresh zii (iget, new_inode) into the cache with one answer held.
	// Another lookup that got there first wins: its HostInode is held
	// and *dup is the zii to give back (evict).
	HostInode *adopt(zus_inode_info *zii, zus_inode_info **dup);
	// One answer given back; true when h was the last holder and left
	// the cache (the caller then drops it), false while it stays.
	bool give_back(HostInode *h, bool park);
};

} // namespace zus::plugin

#endif // ZUS_PLUGIN_HOST_MOUNT_H
