// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_xattr.cc - FUSE handlers of extended attributes and POSIX ACLs
// (zuf's xattr.c): setxattr, getxattr, listxattr, removexattr.
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernel_shim/fuse_handlers.h"
#include "kernel_shim/fuse_wire.h"
#include "kernel_shim/log.h"

namespace zuf {

namespace {

// posix_acl_update_mode's in_group_or_capable(): may the caller keep the
// file's S_ISGID when setting its access ACL? (uid 0 stands for CAP_FSETID.)
bool in_group_or_capable(fuse_req_t req, fuse_ino_t ino)
{
	const fuse_ctx *ctx = fuse_req_ctx(req);
	struct stat st;
	if (ctx->uid == 0 || fs(req).vfs->getattr(ino, &st) ||
	    ctx->gid == st.st_gid)
		return true;
	std::vector<gid_t> groups(64);
	int n = fuse_req_getgroups(req, groups.size(), groups.data());
	if (n > int(groups.size())) {
		groups.resize(n);
		n = fuse_req_getgroups(req, n, groups.data());
	}
	if (n <= 0)
		return false;
	groups.resize(std::min<size_t>(n, groups.size()));
	return std::find(groups.begin(), groups.end(), st.st_gid) !=
	       groups.end();
}

void zf_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	if (std::strcmp(name, "system.posix_acl_access") == 0 &&
	    !in_group_or_capable(req, ino))
		flags |= ZUFS_XATTR_ACL_KILL_SGID;
	fuse_reply_err(
		req, -inode_sync(req,
				 fs(req).vfs->setxattr(ino, name,
						       { value, size }, flags),
				 ino));
}

void zf_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	thread_local std::vector<char> buf;
	buf.resize(size);
	ssize_t n = fs(req).vfs->getxattr(ino, name, { buf.data(), size });
	if (n < 0)
		return (void)fuse_reply_err(req, -n);
	if (!size)
		return (void)fuse_reply_xattr(req, n);
	fuse_reply_buf(req, buf.data(), n);
}

void zf_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	thread_local std::vector<char> buf;
	buf.resize(size);
	// trusted.* is listed only for CAP_SYS_ADMIN; uid 0 stands for it.
	bool privileged = fuse_req_ctx(req)->uid == 0;
	ssize_t n =
		fs(req).vfs->listxattr(ino, { buf.data(), size }, privileged);
	if (n < 0)
		return (void)fuse_reply_err(req, -n);
	if (!size)
		return (void)fuse_reply_xattr(req, n);
	fuse_reply_buf(req, buf.data(), n);
}

void zf_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(
		req,
		-inode_sync(req, fs(req).vfs->removexattr(ino, name), ino));
}

} // namespace

void add_xattr_ops(fuse_lowlevel_ops &ops)
{
	ops.setxattr = zf_setxattr;
	ops.getxattr = zf_getxattr;
	ops.listxattr = zf_listxattr;
	ops.removexattr = zf_removexattr;
}

} // namespace zuf
