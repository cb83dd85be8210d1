// SPDX-License-Identifier: BSD-3-Clause
//
// host_door.cc - the seed door: how the runtime (runtime.h) serves a zus
// plugin that offers no zufuse extension. Each handler finds its mount
// from the message's cookie (a HostInode, or the plugin's sbi) and calls
// PluginMount's translation of the message into the seed's call.
//
// And make_server() of a loaded file system: its extension when it
// registered one (pmfs), else this door; the same Runtime either way.
#include <cerrno>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "server/plugin/host_mount.h"
#include "server/runtime.h"

namespace zus::plugin {

namespace {

// The mounts served through this door, by the plugin's sbi: STATFS,
// UMOUNT, SYNC of a mount and a plugin's ZU_IOC_IOMAP_EXEC name the
// mount by it.
std::mutex g_mounts_mu;
std::unordered_map<zus_sb_info *, PluginMount *> g_mounts;

PluginMount *mount_of(zus_sb_info *sbi)
{
	std::lock_guard lk(g_mounts_mu);
	auto it = g_mounts.find(sbi);
	return it == g_mounts.end() ? nullptr : it->second;
}

// A plugin's ZU_IOC_IOMAP_EXEC (libzus's _zus_iom_ioc_exec_submit) goes
// to the shim of the mount it names.
int iomap_exec_hook(zus_sb_info *sbi, zufs_ioc_iomap_exec *ioc)
{
	zufs::ZufCalls *zuf = nullptr;
	{
		std::lock_guard lk(g_mounts_mu);
		auto it = g_mounts.find(sbi);
		if (it != g_mounts.end())
			zuf = it->second->zuf();
	}
	return zuf ? zuf->iomap_exec(ioc) : -ENOTSUP;
}

int door_mount(void *fs, zufs_ioc_mount &m, zufs::ZufCalls *zuf)
{
	auto pm = std::make_unique<PluginMount>(static_cast<zus_fs_info *>(fs),
						zuf);
	int err = pm->mount(m);
	if (err)
		return err;
	{
		std::lock_guard lk(g_mounts_mu);
		g_mounts[pm->sbi()] = pm.get();
	}
	zus_host_set_iomap_exec(iomap_exec_hook);
	pm.release(); // door_umount's
	return 0;
}

void door_umount(zus_sb_info *sbi)
{
	PluginMount *pm = nullptr;
	{
		std::lock_guard lk(g_mounts_mu);
		auto it = g_mounts.find(sbi);
		if (it == g_mounts.end())
			return;
		pm = it->second;
		g_mounts.erase(it);
	}
	delete pm;
}

int door_sync(zus_sb_info *sbi)
{
	PluginMount *pm = mount_of(sbi);
	return pm ? pm->sync_fs() : -EINVAL;
}

template <typename Ioc> Ioc *as(zufs_ioc_hdr *hdr)
{
	return reinterpret_cast<Ioc *>(hdr);
}

// The mount of an inode cookie; none (a null cookie) is -EINVAL.
template <typename Fn> int on(zus_inode_info *cookie, Fn fn)
{
	HostInode *h = hi(cookie);
	return h ? fn(*h->m) : -EINVAL;
}

Door make_door()
{
	Door d{ door_mount, door_umount, door_sync };
	using P = zufs::page_list;
	OpTable &t = d.ops;
	t[ZUFS_OP_STATFS] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_statfs>(h);
		PluginMount *pm = mount_of(ioc->zus_sbi);
		return pm ? pm->statfs(ioc) : -EINVAL;
	};
	t[ZUFS_OP_NEW_INODE] = [](zufs_ioc_hdr *h, P pages) {
		auto *ioc = as<zufs_ioc_new_inode>(h);
		return on(ioc->dir_ii, [&](PluginMount &m) {
			return m.new_inode(ioc, pages);
		});
	};
	t[ZUFS_OP_FREE_INODE] = t[ZUFS_OP_EVICT_INODE] =
		[](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_evict_inode>(h);
		if (!ioc->zus_ii)
			return 0;
		return on(ioc->zus_ii, [&](PluginMount &m) {
			return m.evict(ioc, h->operation == ZUFS_OP_FREE_INODE);
		});
	};
	t[ZUFS_OP_LOOKUP] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_lookup>(h);
		return on(ioc->dir_ii,
			  [&](PluginMount &m) { return m.lookup(ioc); });
	};
	t[ZUFS_OP_ADD_DENTRY] = t[ZUFS_OP_REMOVE_DENTRY] =
		[](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_dentry>(h);
		return on(ioc->zus_dir_ii, [&](PluginMount &m) {
			return m.dentry(ioc,
					h->operation == ZUFS_OP_ADD_DENTRY);
		});
	};
	t[ZUFS_OP_RENAME] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_rename>(h);
		return on(ioc->old_dir_ii,
			  [&](PluginMount &m) { return m.rename(ioc); });
	};
	t[ZUFS_OP_READDIR] = [](zufs_ioc_hdr *h, P pages) {
		auto *ioc = as<zufs_ioc_readdir>(h);
		return on(ioc->dir_ii, [&](PluginMount &m) {
			return m.readdir(ioc, pages);
		});
	};
	t[ZUFS_OP_READ] = t[ZUFS_OP_WRITE] = [](zufs_ioc_hdr *h, P pages) {
		auto *ioc = as<zufs_ioc_IO>(h);
		return on(ioc->zus_ii, [&](PluginMount &m) {
			return m.io(ioc, pages, h->operation == ZUFS_OP_WRITE);
		});
	};
	t[ZUFS_OP_GET_MULTY] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_IO>(h);
		return on(ioc->zus_ii,
			  [&](PluginMount &m) { return m.get_multy(ioc); });
	};
	t[ZUFS_OP_PUT_MULTY] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_IO>(h);
		return on(ioc->zus_ii,
			  [&](PluginMount &m) { return m.put_multy(ioc); });
	};
	t[ZUFS_OP_SETATTR] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_attr>(h);
		return on(ioc->zus_ii,
			  [&](PluginMount &m) { return m.setattr(ioc); });
	};
	// (SYNC without an inode is the runtime's: door_sync, every mount.)
	t[ZUFS_OP_SYNC] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_sync>(h);
		return on(ioc->zus_ii,
			  [&](PluginMount &m) { return m.sync(ioc); });
	};
	t[ZUFS_OP_FALLOCATE] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_IO>(h);
		return on(ioc->zus_ii,
			  [&](PluginMount &m) { return m.fallocate(ioc); });
	};
	t[ZUFS_OP_LLSEEK] = [](zufs_ioc_hdr *h, P) {
		auto *ioc = as<zufs_ioc_seek>(h);
		return on(ioc->zus_ii,
			  [&](PluginMount &m) { return m.seek(ioc); });
	};
	t[ZUFS_OP_XATTR_GET] = t[ZUFS_OP_XATTR_SET] = t[ZUFS_OP_XATTR_LIST] =
		[](zufs_ioc_hdr *h, P pages) {
		auto *ioc = as<zufs_ioc_xattr>(h);
		return on(ioc->zus_ii,
			  [&](PluginMount &m) { return m.xattr(ioc, pages); });
	};
	// CLONE, COPY, IOCTL, FIEMAP, STATS, IOM_DONE: not in the seed's
	// vectors (-EOPNOTSUPP; the kernel falls back).
	return d;
}

} // namespace

const Door &seed_door()
{
	static const Door door = make_door();
	return door;
}

std::unique_ptr<zufs::Channel> make_server(const Plugin &fs,
					   zufs::ZufCalls *zuf)
{
	auto *ext = static_cast<const Door *>(zus_host_ext(fs.zfi));
	return std::make_unique<Runtime>(ext ? *ext : seed_door(), fs.zfi, zuf);
}

} // namespace zus::plugin
