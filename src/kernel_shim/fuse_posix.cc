// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_posix.h"

#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "kernel_shim/fuse_frontend.h"

namespace zuf {

namespace {

using Scope = FuseNotifier::RequestScope;

FuseFs &fs(fuse_req_t req)
{
	return *static_cast<FuseFs *>(fuse_req_userdata(req));
}

File &file_of(const fuse_file_info *fi)
{
	return *reinterpret_cast<File *>(fi->fh);
}

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
		req, -fs(req).vfs->setxattr(ino, name, { value, size }, flags));
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
	fuse_reply_err(req, -fs(req).vfs->removexattr(ino, name));
}

void zf_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
		  off_t length, fuse_file_info *)
{
	Scope scope(*fs(req).notifier);
	// file_modified() as tmpfs does it: with FUSE_HANDLE_KILLPRIV_V2 the
	// kernel leaves it to us, and FALLOCATE carries no kill flag: suid
	// and sgid go unless the caller has CAP_FSETID (uid 0 stands for it).
	if (int err = fs(req).vfs->remove_privs(
		    ino, fuse_req_ctx(req)->uid != 0))
		return (void)fuse_reply_err(req, -err);
	fuse_reply_err(req, -fs(req).vfs->fallocate(ino, mode, offset, length));
}

void zf_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      fuse_file_info *)
{
	int64_t r = fs(req).vfs->lseek(ino, off, whence);
	if (r < 0)
		return (void)fuse_reply_err(req, int(-r));
	fuse_reply_lseek(req, r);
}

void zf_copy_file_range(fuse_req_t req, fuse_ino_t, off_t off_in,
			fuse_file_info *fi_in, fuse_ino_t, off_t off_out,
			fuse_file_info *fi_out, size_t len, int flags)
{
	Scope scope(*fs(req).notifier);
	ssize_t n = fs(req).vfs->copy_file_range(file_of(fi_in), off_in,
						 file_of(fi_out), off_out, len,
						 unsigned(flags));
	if (n < 0)
		return (void)fuse_reply_err(req, int(-n));
	fuse_reply_write(req, size_t(n));
}

} // namespace

// chattr/lsattr: the kernel's fileattr_get/set reach FUSE as these four
// ioctls (fuse_priv_ioctl, on a file it opened itself), with the caller's
// rights already checked (vfs_fileattr_set). Other ioctls: ENOTTY.
void zf_ioctl(fuse_req_t req, fuse_ino_t ino, unsigned int cmd, void *,
	      fuse_file_info *, unsigned, const void *in_buf, size_t in_bufsz,
	      size_t out_bufsz)
{
	Vfs &vfs = *fs(req).vfs;
	int err;
	if (cmd == FS_IOC_GETFLAGS && out_bufsz >= sizeof(uint32_t)) {
		uint32_t flags;
		if ((err = vfs.getflags(ino, &flags)))
			return (void)fuse_reply_err(req, -err);
		return (void)fuse_reply_ioctl(req, 0, &flags, sizeof(flags));
	}
	if (cmd == FS_IOC_SETFLAGS && in_bufsz >= sizeof(uint32_t)) {
		uint32_t flags;
		std::memcpy(&flags, in_buf, sizeof(flags));
		if ((err = vfs.setflags(ino, flags)))
			return (void)fuse_reply_err(req, -err);
		return (void)fuse_reply_ioctl(req, 0, nullptr, 0);
	}
	if (cmd == FS_IOC_FSGETXATTR && out_bufsz >= sizeof(fsxattr)) {
		fsxattr fa;
		if ((err = vfs.fsgetxattr(ino, &fa)))
			return (void)fuse_reply_err(req, -err);
		return (void)fuse_reply_ioctl(req, 0, &fa, sizeof(fa));
	}
	if (cmd == FS_IOC_FSSETXATTR && in_bufsz >= sizeof(fsxattr)) {
		fsxattr fa;
		std::memcpy(&fa, in_buf, sizeof(fa));
		if ((err = vfs.fssetxattr(ino, fa)))
			return (void)fuse_reply_err(req, -err);
		return (void)fuse_reply_ioctl(req, 0, nullptr, 0);
	}
	fuse_reply_err(req, ENOTTY);
}

void add_posix_ops(fuse_lowlevel_ops &ops)
{
	ops.ioctl = zf_ioctl;
	ops.setxattr = zf_setxattr;
	ops.getxattr = zf_getxattr;
	ops.listxattr = zf_listxattr;
	ops.removexattr = zf_removexattr;
	ops.fallocate = zf_fallocate;
	ops.lseek = zf_lseek;
	ops.copy_file_range = zf_copy_file_range;
}

} // namespace zuf
