// SPDX-License-Identifier: BSD-3-Clause
//
// control_thread.h - zufuse's side of control.h: one thread that answers
// zufusectl on the mount's unix socket, one client at a time, off every
// request path. It reads the shim's counters (stats.h), asks the server for
// its own through the ABI (ZUFS_OP_STATS via Vfs::server_stats), keeps the
// "since reset" baseline of both, switches the debug log, and tells the
// server of a remount (Vfs::remount).
//
// Life cycle (FuseFrontend): start() once the FUSE mount is up (the socket
// is named after the mount's device number); the destructor stops the
// thread, closes and removes the socket. Destroy it before the Vfs is
// unmounted.
#ifndef ZUF_CONTROL_THREAD_H
#define ZUF_CONTROL_THREAD_H

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <sys/types.h>

#include "zufs/zus_api.h"

namespace zuf {

class Vfs;

class ControlThread {
  public:
	// Listen for the FUSE mount on @mountpoint (canonical, as realpath
	// gives it). nullptr with *err a one-line reason when there can be no
	// socket; the mount works without it.
	static std::unique_ptr<ControlThread>
	start(const std::string &mountpoint, Vfs &vfs, std::string *err);
	~ControlThread();
	ControlThread(const ControlThread &) = delete;
	ControlThread &operator=(const ControlThread &) = delete;

	const std::string &path() const { return path_; }

	// Use start(); public for std::make_unique only.
	ControlThread(Vfs &vfs, int fd, std::string path, dev_t dev);

  private:
	void run();
	void serve(int client);
	std::string stats_reply(bool reset);
	std::string debug_reply(const std::string &words);
	std::string remount_reply(const std::string &options);

	Vfs &vfs_;
	int fd_;
	std::string path_;
	dev_t dev_; // the mount's device number
	std::atomic<bool> stop_{ false };
	uint64_t mount_ns_;
	uint64_t reset_ns_;
	zufs_ioc_stats server_base_ = {}; // server counters at the last reset
	std::thread thread_;
};

} // namespace zuf

#endif // ZUF_CONTROL_THREAD_H
