// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_notifier.h - turns the shim's unmaps into
// fuse_lowlevel_notify_inval_inode, after the reply.
//
// The kernel keeps the pages of a FUSE write locked until the reply comes,
// so invalidating them from the handler that serves the write deadlocks.
// Invalidations raised while a RequestScope is alive on the thread are held
// until the scope ends (the handler has replied by then) and are then sent
// by one notifier thread, never by a request handler.
#ifndef ZUF_FUSE_NOTIFIER_H
#define ZUF_FUSE_NOTIFIER_H

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "kernel_shim/invalidator.h"

struct fuse_session;

namespace zuf {

class FuseNotifier final : public Invalidator {
  public:
	FuseNotifier() = default;
	~FuseNotifier() override { stop(); }
	FuseNotifier(const FuseNotifier &) = delete;
	FuseNotifier &operator=(const FuseNotifier &) = delete;

	// What the notifier thread calls: fuse_lowlevel_notify_inval_inode
	// for start(se); anything else for tests.
	using Send =
		std::function<int(uint64_t ino, uint64_t offset, uint64_t len)>;
	void start(fuse_session *se);
	void start(Send send);
	void stop(); // pending invalidations are dropped

	void invalidate(uint64_t ino, uint64_t offset, uint64_t len) override;
	// The cached attributes of ino only, sent at once from the calling
	// handler, before its reply: no page is touched, so no lock the
	// kernel holds for the request is needed, and the caller's next stat
	// (after the reply) asks again. For changes whose reply carries no
	// attributes (chattr's ioctls change ctime).
	void invalidate_attr_now(uint64_t ino);

	// Declare first in a FUSE handler: what the handler invalidates is
	// queued when it returns, i.e. after its reply.
	class RequestScope {
	  public:
		explicit RequestScope(FuseNotifier &n);
		~RequestScope();
		RequestScope(const RequestScope &) = delete;
		RequestScope &operator=(const RequestScope &) = delete;

	  private:
		FuseNotifier &n_;
	};

	struct Inval {
		uint64_t ino, offset, len; // bytes; len 0: to EOF
	};

  private:
	void queue(const Inval *v, size_t n);
	void run();

	std::mutex lock_;
	std::condition_variable cv_;
	std::deque<Inval> queue_;
	bool stopping_ = false;
	std::thread thread_;
	Send send_;
};

} // namespace zuf

#endif // ZUF_FUSE_NOTIFIER_H
