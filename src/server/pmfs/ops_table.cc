// SPDX-License-Identifier: BSD-3-Clause
// ops_table.cc - pmfs's entries in the runtime's op table.
#include <cstddef>

#include "server/pmfs/ops.h"
#include "server/pmfs/tier.h"
#include "server/runtime.h"

namespace zus {

namespace {

int op_noop(zufs_ioc_hdr *, zufs::page_list) { return 0; }

} // namespace

void pmfs_fill_ops(OpTable &t)
{
	using namespace pmfs;
	auto set = [&](e_zufs_operation op, auto fn, size_t len) {
		t[op] = {fn, static_cast<uint16_t>(len)};
	};
	set(ZUFS_OP_NOOP, op_noop, sizeof(zufs_ioc_hdr));
	set(ZUFS_OP_STATFS, op_statfs, sizeof(zufs_ioc_statfs));
	set(ZUFS_OP_NEW_INODE, op_new_inode, sizeof(zufs_ioc_new_inode));
	set(ZUFS_OP_FREE_INODE, op_evict_inode, sizeof(zufs_ioc_evict_inode));
	set(ZUFS_OP_EVICT_INODE, op_evict_inode, sizeof(zufs_ioc_evict_inode));
	set(ZUFS_OP_LOOKUP, op_lookup, sizeof(zufs_ioc_lookup));
	set(ZUFS_OP_ADD_DENTRY, op_add_dentry, sizeof(zufs_ioc_dentry));
	set(ZUFS_OP_REMOVE_DENTRY, op_remove_dentry, sizeof(zufs_ioc_dentry));
	set(ZUFS_OP_RENAME, op_rename, sizeof(zufs_ioc_rename));
	set(ZUFS_OP_READDIR, op_readdir, sizeof(zufs_ioc_readdir));
	set(ZUFS_OP_READ, op_read, sizeof(zufs_ioc_IO));
	set(ZUFS_OP_WRITE, op_write, sizeof(zufs_ioc_IO));
	set(ZUFS_OP_SETATTR, op_setattr, sizeof(zufs_ioc_attr));
	set(ZUFS_OP_SYNC, op_sync, sizeof(zufs_ioc_sync));
	set(ZUFS_OP_FALLOCATE, op_fallocate, sizeof(zufs_ioc_IO));
	set(ZUFS_OP_LLSEEK, op_llseek, sizeof(zufs_ioc_seek));
	set(ZUFS_OP_CLONE, op_clone, sizeof(zufs_ioc_clone));
	set(ZUFS_OP_COPY, op_copy, sizeof(zufs_ioc_clone));
	set(ZUFS_OP_XATTR_GET, op_xattr_get, sizeof(zufs_ioc_xattr));
	set(ZUFS_OP_XATTR_SET, op_xattr_set, sizeof(zufs_ioc_xattr));
	set(ZUFS_OP_XATTR_LIST, op_xattr_list, sizeof(zufs_ioc_xattr));
	// The multy messages carry ziom.iom_max entries: checked by the op.
	set(ZUFS_OP_GET_MULTY, op_get_multy, offsetof(zufs_ioc_IO, iom_e));
	set(ZUFS_OP_PUT_MULTY, op_put_multy, offsetof(zufs_ioc_IO, iom_e));
	set(ZUFS_OP_IOM_DONE, op_iom_done, sizeof(zufs_ioc_iomap_done));
	set(ZUFS_OP_STATS, op_stats, sizeof(zufs_ioc_stats));
}

} // namespace zus
