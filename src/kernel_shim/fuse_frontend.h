// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_frontend.h - the FUSE low-level frontend: FUSE plays the kernel that
// calls into zuf. Each fuse_lowlevel_ops handler is a thin adapter over
// zuf::Vfs that replies exactly once on every path.
//
// Life cycle (zufuse main): create() parses the FUSE options without
// mounting; the caller mounts the server (so image errors come first), then
// mount(), loop() until unmount or a signal, unmount(), and only then
// umounts the server.
#ifndef ZUF_FUSE_FRONTEND_H
#define ZUF_FUSE_FRONTEND_H

#include <fuse_lowlevel.h>

#include <memory>

#include "kernel_shim/control_thread.h"
#include "kernel_shim/fuse_notifier.h"
#include "kernel_shim/fuse_uring.h"
#include "kernel_shim/vfs.h"

namespace zuf {

struct FrontendOptions {
	bool direct_io = false;	  // FOPEN_DIRECT_IO on every open
	double timeout = 86400.0; // entry/attr: the shim is the only path
	unsigned max_threads = 0; // multi-threaded loop (0: libfuse default)
	bool uring = false;	  // also serve over io_uring (fuse_uring.h)
	// -o strictatime: every read reaches the server (which sets atime),
	// so an open does not keep the cached pages.
	bool strictatime = false;
	// -o sync and -o dirsync are the Vfs's (sync_mount(), dirsync_mount():
	// a remount changes them).
};

// What the handlers reach through fuse_req_userdata().
struct FuseFs {
	Vfs *vfs;
	FuseNotifier *notifier;
	FrontendOptions opts;
};

const fuse_lowlevel_ops &fuse_ops();

class FuseFrontend {
  public:
	// notifier: the Invalidator the Vfs was built with.
	FuseFrontend(Vfs &vfs, FuseNotifier &notifier, FrontendOptions opts);
	~FuseFrontend();
	FuseFrontend(const FuseFrontend &) = delete;
	FuseFrontend &operator=(const FuseFrontend &) = delete;

	// fuse_session_new: parses args (-o ..., -d). False: libfuse said why.
	bool create(fuse_args *args);
	// fuse_session_mount + signal handlers (SIGINT/SIGTERM/SIGHUP);
	// with opts.uring, the io_uring queues too (or one line on stderr
	// saying why not, and /dev/fuse alone); then the control socket for
	// zufusectl (control_thread.h; without it, one line on stderr).
	int mount(const char *mountpoint);
	// Serve until unmounted (fusermount3 -u, umount) or signalled.
	int loop(bool single_thread);
	// Unmount (if still mounted) and join the io_uring threads; the
	// session stays for destruction.
	void unmount();

  private:
	void start_uring();

	FuseNotifier &notifier_;
	FuseFs fs_;
	fuse_session *se_ = nullptr;
	bool mounted_ = false;
	bool signals_ = false;
	std::unique_ptr<uring::Rings> rings_;
	std::unique_ptr<ControlThread> control_;
};

} // namespace zuf

#endif // ZUF_FUSE_FRONTEND_H
