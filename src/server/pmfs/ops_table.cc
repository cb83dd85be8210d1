// SPDX-License-Identifier: BSD-3-Clause
// ops_table.cc - pmfs's door into the runtime (runtime.h): its mount,
// umount, sync of a whole mount and its handlers, which take zufuse's
// messages as the shim sends them.
#include <memory>

#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"
#include "server/runtime.h"

namespace zus {

namespace {

int op_noop(zufs_ioc_hdr *, zufs::page_list) { return 0; }

int door_mount(void *, zufs_ioc_mount &m, zufs::ZufCalls *zuf)
{
	std::unique_ptr<zus_sb_info> sbi;
	int err = pmfs::mount(m, zuf, &sbi);
	if (!err)
		sbi.release(); // the runtime's until door_umount (m.zmi.zus_sbi)
	return err;
}

void door_umount(zus_sb_info *sbi)
{
	pmfs::umount(std::unique_ptr<zus_sb_info>(sbi));
}

int door_sync(zus_sb_info *sbi) { return pmfs::sync_fs(*sbi); }

int door_remount(zus_sb_info *sbi, zufs_ioc_mount &m)
{
	return pmfs::remount(*sbi, m);
}

Door make_door()
{
	using namespace pmfs;
	Door d{ door_mount, door_umount, door_sync };
	d.remount = door_remount;
	OpTable &t = d.ops;
	t[ZUFS_OP_NOOP] = op_noop;
	t[ZUFS_OP_STATFS] = op_statfs;
	t[ZUFS_OP_NEW_INODE] = op_new_inode;
	t[ZUFS_OP_FREE_INODE] = op_evict_inode;
	t[ZUFS_OP_EVICT_INODE] = op_evict_inode;
	t[ZUFS_OP_LOOKUP] = op_lookup;
	t[ZUFS_OP_ADD_DENTRY] = op_add_dentry;
	t[ZUFS_OP_REMOVE_DENTRY] = op_remove_dentry;
	t[ZUFS_OP_RENAME] = op_rename;
	t[ZUFS_OP_READDIR] = op_readdir;
	t[ZUFS_OP_READ] = op_read;
	t[ZUFS_OP_WRITE] = op_write;
	t[ZUFS_OP_SETATTR] = op_setattr;
	t[ZUFS_OP_SYNC] = op_sync;
	t[ZUFS_OP_FALLOCATE] = op_fallocate;
	t[ZUFS_OP_LLSEEK] = op_llseek;
	t[ZUFS_OP_CLONE] = op_clone;
	t[ZUFS_OP_COPY] = op_copy;
	t[ZUFS_OP_XATTR_GET] = op_xattr_get;
	t[ZUFS_OP_XATTR_SET] = op_xattr_set;
	t[ZUFS_OP_XATTR_LIST] = op_xattr_list;
	t[ZUFS_OP_GET_MULTY] = op_get_multy;
	t[ZUFS_OP_PUT_MULTY] = op_put_multy;
	t[ZUFS_OP_IOM_DONE] = op_iom_done;
	t[ZUFS_OP_STATS] = op_stats;
	return d;
}

} // namespace

const Door &pmfs_door()
{
	static const Door door = make_door();
	return door;
}

} // namespace zus
