// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_uring_guard.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

namespace zuf::uring {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How often the guard looks while requests flow, and how long no ring
// may move before it rests: a starved request waits at most about two
// ticks more than behind ordinary threads.
constexpr auto kTick = 5ms;
constexpr unsigned kQuietTicks = 200; // 1 s
// A thread taken back to SCHED_OTHER stays there kHoldMin << level; the
// level grows when it is taken back again within kCalm of being made
// SCHED_IDLE, and starts over otherwise.
constexpr auto kHoldMin = 100ms;
constexpr unsigned kMaxLevel = 5; // 3.2 s
constexpr auto kCalm = 1s;

bool set_policy(pid_t tid, int policy)
{
	sched_param sp = {};
	return sched_setscheduler(tid, policy, &sp) == 0;
}

// May this process turn a SCHED_IDLE thread back into an ordinary one?
// (Without CAP_SYS_NICE that needs RLIMIT_NICE >= 20.) Tried on a thread
// that ends right after, so a refusal strands nobody.
bool can_leave_idle()
{
	bool ok = false;
	std::thread([&ok] {
		ok = set_policy(0, SCHED_IDLE) && set_policy(0, SCHED_OTHER);
	}).join();
	return ok;
}

unsigned load(const unsigned *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

} // namespace

// The guard's view of one ring thread (guarded by Impl::mutex).
struct Watch {
	bool attached = false;
	pid_t tid = 0;
	io_uring *ring = nullptr;
	bool idle = false;	  // SCHED_IDLE now
	bool was_pending = false; // at the last tick
	unsigned seen[4] = {};	  // sq head, prepared, cq head, cq tail
	unsigned level = 0;
	Clock::time_point idle_since{};
	Clock::time_point hold_until{};
};

struct IdleGuard::Impl {
	IdleGuard *owner = nullptr;
	Mode mode = Mode::kGuarded;
	std::vector<Watch> watch;
	std::mutex mutex;
	std::condition_variable cv;
	bool stopping = false;
	std::thread thread;

	void run();
	bool tick(Clock::time_point now);
	void demote(Watch &w, Clock::time_point now);
	void promote(Watch &w, Clock::time_point now);
	void rest_all();
};

IdleGuard::Mode IdleGuard::mode_from_env()
{
	const char *e = getenv("ZUFUSE_URING_SCHED_IDLE");
	if (!e)
		return Mode::kGuarded;
	if (!strcmp(e, "0"))
		return Mode::kOff;
	if (!strcmp(e, "unguarded"))
		return Mode::kUnguarded;
	return Mode::kGuarded;
}

IdleGuard::IdleGuard(unsigned nthreads, Mode mode)
    : slots_(std::make_unique<Slot[]>(nthreads)),
      impl_(std::make_unique<Impl>())
{
	impl_->owner = this;
	impl_->mode = mode;
	impl_->watch.resize(nthreads);
	if (mode == Mode::kGuarded)
		impl_->thread = std::thread([im = impl_.get()] { im->run(); });
}

std::unique_ptr<IdleGuard> IdleGuard::create(unsigned nthreads, Mode mode)
{
	if (mode == Mode::kOff || !can_leave_idle())
		return nullptr;
	return std::unique_ptr<IdleGuard>(new IdleGuard(nthreads, mode));
}

IdleGuard::~IdleGuard()
{
	{
		std::lock_guard lock(impl_->mutex);
		impl_->stopping = true;
	}
	impl_->cv.notify_all();
	if (impl_->thread.joinable())
		impl_->thread.join();
}

void IdleGuard::attach(unsigned i, io_uring *ring, bool taskrun_flag)
{
	if (impl_->mode == Mode::kUnguarded) {
		set_policy(0, SCHED_IDLE);
		return;
	}
	if (!taskrun_flag) // the guard could not see its requests
		return;
	std::lock_guard lock(impl_->mutex);
	Watch &w = impl_->watch[i];
	w = Watch{};
	w.attached = true;
	w.tid = gettid();
	w.ring = ring;
	slots_[i].sqes.store(0, std::memory_order_relaxed);
}

void IdleGuard::detach(unsigned i)
{
	std::lock_guard lock(impl_->mutex);
	Watch &w = impl_->watch[i];
	if (w.attached && w.idle)
		set_policy(w.tid, SCHED_OTHER);
	w.attached = false;
	w.ring = nullptr;
}

void IdleGuard::wake()
{
	{
		std::lock_guard lock(impl_->mutex);
		asleep_.store(false, std::memory_order_relaxed);
	}
	impl_->cv.notify_all();
}

void IdleGuard::Impl::demote(Watch &w, Clock::time_point now)
{
	if (!set_policy(w.tid, SCHED_OTHER))
		return;
	w.idle = false;
	if (now - w.idle_since < kCalm)
		w.level = std::min(w.level + 1, kMaxLevel);
	else
		w.level = 0;
	w.hold_until = now + kHoldMin * (1u << w.level);
}

void IdleGuard::Impl::promote(Watch &w, Clock::time_point now)
{
	if (!set_policy(w.tid, SCHED_IDLE))
		return;
	w.idle = true;
	w.idle_since = now;
}

void IdleGuard::Impl::rest_all()
{
	for (Watch &w : watch) {
		if (w.attached && w.idle && set_policy(w.tid, SCHED_OTHER))
			w.idle = false;
		w.was_pending = false;
	}
}

// One look at every ring: true if any moved or has work pending.
bool IdleGuard::Impl::tick(Clock::time_point now)
{
	bool active = false;
	for (size_t i = 0; i < watch.size(); ++i) {
		Watch &w = watch[i];
		if (!w.attached)
			continue;
		const io_uring &r = *w.ring;
		unsigned now_seen[4] = {
			load(r.sq.khead),
			owner->slots_[i].sqes.load(std::memory_order_acquire),
			load(r.cq.khead),
			load(r.cq.ktail),
		};
		// A request queued as task work and not taken, a completion
		// not reaped, an SQE (a reply) the kernel has not consumed.
		bool pending = (load(r.sq.kflags) & IORING_SQ_TASKRUN) ||
			       now_seen[2] != now_seen[3] ||
			       now_seen[0] != now_seen[1];
		bool moved = std::memcmp(now_seen, w.seen, sizeof(now_seen));
		std::memcpy(w.seen, now_seen, sizeof(now_seen));
		bool stalled = pending && w.was_pending && !moved;
		w.was_pending = pending;
		active = active || moved || pending;

		if (stalled && w.idle) {
			demote(w, now);
		} else if (!w.idle && !pending && now >= w.hold_until) {
			promote(w, now);
		}
	}
	return active;
}

void IdleGuard::Impl::run()
{
	pthread_setname_np(pthread_self(), "zufuse-guard");
	std::unique_lock lock(mutex);
	unsigned quiet = 0;
	while (!stopping) {
		cv.wait_for(lock, kTick, [this] { return stopping; });
		if (stopping)
			break;
		if (tick(Clock::now())) {
			quiet = 0;
			continue;
		}
		if (++quiet < kQuietTicks)
			continue;
		// Nothing moved for a while: ordinary threads, no ticks,
		// until a ring thread prepares an SQE (IdleGuard::prepared).
		rest_all();
		owner->asleep_.store(true, std::memory_order_relaxed);
		cv.wait(lock, [this] {
			return stopping ||
			       !owner->asleep_.load(std::memory_order_relaxed);
		});
		quiet = 0;
	}
	rest_all();
}

} // namespace zuf::uring
