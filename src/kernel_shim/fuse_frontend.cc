// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_frontend.cc - the FUSE session's life cycle (create, mount, loop,
// unmount) and its op table: INIT and statfs here, the handlers in
// fuse_namei.cc, fuse_file.cc, fuse_dir.cc and fuse_xattr.cc.
#include "kernel_shim/fuse_frontend.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernel_shim/fuse_extra.h"
#include "kernel_shim/fuse_handlers.h"
#include "kernel_shim/fuse_wire.h"
#include "kernel_shim/log.h"

namespace zuf {

namespace {

// FUSE moves at most this much per request (and libfuse's buffer holds it).
constexpr unsigned kMaxWrite = 1U << 20;

void zf_init(void *userdata, fuse_conn_info *conn)
{
	conn->max_write = kMaxWrite;
	conn->time_gran = 1;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	// chattr/lsattr on directories too (FS_IOC_GETFLAGS through ioctl).
	if (conn->capable & FUSE_CAP_IOCTL_DIR)
		conn->want |= FUSE_CAP_IOCTL_DIR;
	// POSIX ACLs: the kernel checks them (read through GETXATTR) and
	// leaves the umask to the Vfs, which applies it or the parent's
	// default ACL (posix_acl_create).
	if (static_cast<FuseFs *>(userdata)->vfs->acl() &&
	    (conn->capable & FUSE_CAP_POSIX_ACL) &&
	    (conn->capable & FUSE_CAP_DONT_MASK))
		conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
	// Write-through page cache; the kernel truncates and kills suid
	// through SETATTR; writes arrive in memory so their pages can be
	// handed to the server as they are (splice would need a copy out).
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			FUSE_CAP_ATOMIC_O_TRUNC | FUSE_CAP_HANDLE_KILLPRIV);
}

void zf_statfs(fuse_req_t req, fuse_ino_t)
{
	struct statvfs st;
	int err = fs(req).vfs->statfs(&st);
	if (err)
		return (void)fuse_reply_err(req, -err);
	fuse_reply_statfs(req, &st);
}

fuse_lowlevel_ops make_ops()
{
	fuse_lowlevel_ops ops = {};
	ops.init = zf_init;
	ops.statfs = zf_statfs;
	add_namei_ops(ops);
	add_file_ops(ops);
	add_dir_ops(ops);
	add_xattr_ops(ops);
	return ops;
}

} // namespace

const fuse_lowlevel_ops &fuse_ops()
{
	static const fuse_lowlevel_ops ops = make_ops();
	return ops;
}

// ~~~ session life cycle ~~~

FuseFrontend::FuseFrontend(Vfs &vfs, FuseNotifier &notifier,
			   FrontendOptions opts)
    : notifier_(notifier), fs_{ &vfs, &notifier, opts }
{
}

FuseFrontend::~FuseFrontend()
{
	unmount();
	notifier_.stop();
	if (signals_)
		fuse_remove_signal_handlers(se_);
	if (se_)
		fuse_session_destroy(se_);
}

bool FuseFrontend::create(fuse_args *args)
{
	se_ = fuse_session_new(args, &fuse_ops(), sizeof(fuse_lowlevel_ops),
			       &fs_);
	return se_ != nullptr;
}

int FuseFrontend::mount(const char *mountpoint)
{
	if (fuse_set_signal_handlers(se_))
		return -EIO;
	signals_ = true;
	// The kernel offers io_uring in INIT, which the mount sends.
	bool uring = false;
	if (fs_.opts.uring) {
		std::string msg, note;
		uring = uring::enable(&msg, &note) == 0;
		if (uring ? !note.empty() : !msg.empty())
			std::fprintf(stderr, "zufuse: %s\n",
				     (uring ? note : msg).c_str());
	}
	// Canonical before the mount: afterwards the path leads into it.
	char *real = realpath(mountpoint, nullptr);
	std::string canonical = real ? real : mountpoint;
	free(real);
	if (fuse_session_mount(se_, mountpoint))
		return -EIO;
	mounted_ = true;
	if (int err = wire::install(se_); err) {
		zuf_err("custom fuse i/o: %s (killpriv_v2, io_uring, "
			"O_TMPFILE and statx btime off)",
			strerror(-err));
		uring = false;
	} else {
		install_extra_ops(&fs_);
	}
	if (uring)
		start_uring();
	std::string why;
	control_ = ControlThread::start(canonical, *fs_.vfs, &why);
	if (!control_)
		std::fprintf(stderr,
			     "zufuse: no control socket (%s): zufusectl "
			     "cannot reach this mount\n",
			     why.c_str());
	return 0;
}

// Set the rings up before the loop answers INIT, so that INIT asks for
// io_uring only if they are there.
void FuseFrontend::start_uring()
{
	std::string err;
	rings_ = uring::Rings::create(se_, &err);
	if (!rings_) {
		std::fprintf(stderr, "zufuse: %s\n", err.c_str());
		return;
	}
	wire::want_uring([rings = rings_.get()] { rings->start(); });
}

int FuseFrontend::loop(bool single_thread)
{
	int ret;

	notifier_.start(se_);
	if (single_thread) {
		ret = fuse_session_loop(se_);
	} else {
		fuse_loop_config *cfg = fuse_loop_cfg_create();
		if (fs_.opts.max_threads)
			fuse_loop_cfg_set_max_threads(cfg,
						      fs_.opts.max_threads);
		ret = fuse_session_loop_mt(se_, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	notifier_.stop();
	return ret;
}

void FuseFrontend::unmount()
{
	control_.reset(); // before the Vfs goes: it asks the server
	if (mounted_)
		fuse_session_unmount(se_);
	mounted_ = false;
	// The connection is gone: the ring threads see their entries fail.
	wire::want_uring(nullptr);
	rings_.reset();
}

} // namespace zuf
