// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_notifier.h"

#include <fuse_lowlevel.h>

#include <cerrno>

#include "kernel_shim/log.h"

namespace zuf {

namespace {

// The invalidations of the request this thread is serving.
struct Pending {
	bool active = false;
	std::vector<FuseNotifier::Inval> v;
};
thread_local Pending t_pending;

} // namespace

FuseNotifier::RequestScope::RequestScope(FuseNotifier &n) : n_(n)
{
	t_pending.active = true;
}

FuseNotifier::RequestScope::~RequestScope()
{
	t_pending.active = false;
	if (t_pending.v.empty())
		return;
	n_.queue(t_pending.v.data(), t_pending.v.size());
	t_pending.v.clear();
}

void FuseNotifier::start(fuse_session *se)
{
	start([se](uint64_t ino, uint64_t offset, uint64_t len) {
		// len 0: from offset to EOF.
		return fuse_lowlevel_notify_inval_inode(se, ino, off_t(offset),
							off_t(len));
	});
}

void FuseNotifier::start(Send send)
{
	{
		std::lock_guard lock(lock_);
		send_ = std::move(send);
		stopping_ = false;
	}
	thread_ = std::thread([this] { run(); });
}

void FuseNotifier::stop()
{
	{
		std::lock_guard lock(lock_);
		stopping_ = true;
		queue_.clear();
	}
	cv_.notify_all();
	if (thread_.joinable())
		thread_.join();
}

void FuseNotifier::invalidate(uint64_t ino, uint64_t offset, uint64_t len)
{
	if (t_pending.active) {
		t_pending.v.push_back({ ino, offset, len });
		return;
	}
	Inval v = { ino, offset, len };
	queue(&v, 1);
}

void FuseNotifier::invalidate_attr_now(uint64_t ino)
{
	Send send;
	{
		std::lock_guard lock(lock_);
		if (stopping_ || !send_)
			return;
		send = send_;
	}
	// offset -1: the attributes, no page (fuse_reverse_inval_inode).
	int err = send(ino, UINT64_MAX, 0);
	if (err && err != -ENOENT)
		zuf_err("inval attr ino %lu => %d", (unsigned long)ino, err);
}

void FuseNotifier::queue(const Inval *v, size_t n)
{
	{
		std::lock_guard lock(lock_);
		if (stopping_ || !send_)
			return;
		queue_.insert(queue_.end(), v, v + n);
	}
	cv_.notify_one();
}

void FuseNotifier::run()
{
	std::unique_lock lock(lock_);
	for (;;) {
		cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
		if (stopping_)
			return;
		Inval v = queue_.front();
		queue_.pop_front();
		lock.unlock();
		int err = send_(v.ino, v.offset, v.len);
		if (err && err != -ENOENT) // not cached by the kernel: fine
			zuf_err("inval ino %lu [%lu,+%lu) => %d",
				(unsigned long)v.ino, (unsigned long)v.offset,
				(unsigned long)v.len, err);
		lock.lock();
	}
}

} // namespace zuf
