// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_uring_guard.h - the ring threads run SCHED_IDLE, under a guard that
// gives a starved one its CPU share back.
//
// Why SCHED_IDLE: when a ring thread's reply wakes the application, the
// scheduler places the application on an idle CPU if it finds one
// (select_idle_sibling). With an ordinary ring thread the application's
// own CPU is busy at that moment (the ring thread is on it) and the other
// CPU idle, so the application moves there on every request and each
// request pays a wakeup of an idle CPU (the unpinned 4K rows of the
// README's table: 0.72x libfuse's /dev/fuse loop). A CPU that runs only
// SCHED_IDLE tasks counts as idle for that choice (sched_idle_cpu()), so
// the application stays where its server is, the pinned case.
//
// Why a guard: a SCHED_IDLE thread gets about 0.3% of a CPU that an
// ordinary task wants. The kernel queues a request on the queue of the CPU
// that issued it, and only that queue's threads can serve it, so a CPU
// hog there would hold the request for as long as it runs (a RELEASE held
// back while the other CPU's queue went on: integration_posix_errors).
//
// The guard is a thread of its own (ordinary policy, not pinned) that
// looks at every ring, without a system call, every kTick while requests
// flow: a ring with work its thread has not finished (a request the kernel
// queued as task work and the thread has not taken: IORING_SQ_TASKRUN;
// a completion not reaped; a reply prepared and not yet consumed by the
// kernel) that made no progress for a whole tick is starved or blocked,
// and its thread goes back to SCHED_OTHER (sched_setscheduler), for a hold
// time that doubles while it keeps happening. A ring with nothing pending
// and no hold is made SCHED_IDLE again. So a request waits at most about
// two ticks more than it would behind ordinary threads. When no ring has
// moved for kQuiet the guard turns every thread SCHED_OTHER and sleeps
// until a ring thread tells it that work is flowing again (the first
// request after a quiet spell is served by an ordinary thread).
//
// Thread safety: attach(), detach(), and prepared() are called by ring
// thread i for its own slot only; the guard reads a ring only between its
// attach() and detach().
#ifndef ZUF_FUSE_URING_GUARD_H
#define ZUF_FUSE_URING_GUARD_H

#include <liburing.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>

namespace zuf::uring {

class IdleGuard {
  public:
	enum class Mode {
		kOff,	    // ordinary ring threads (ZUFUSE_URING_SCHED_IDLE=0)
		kGuarded,   // SCHED_IDLE under the guard (the default)
		kUnguarded, // SCHED_IDLE always (=unguarded: measurements only)
	};
	// The mode the environment asks for.
	static Mode mode_from_env();

	// A guard for @nthreads ring threads, or nullptr: mode kOff, or this
	// process could not turn a SCHED_IDLE thread back (no CAP_SYS_NICE
	// nor RLIMIT_NICE): then the threads stay ordinary.
	static std::unique_ptr<IdleGuard> create(unsigned nthreads, Mode mode);
	~IdleGuard(); // stops and joins the guard thread
	IdleGuard(const IdleGuard &) = delete;
	IdleGuard &operator=(const IdleGuard &) = delete;

	// Ring thread @i, on itself, once its ring is set up: the guard may
	// make it SCHED_IDLE from now on. A ring without IORING_SQ_TASKRUN
	// reporting (IORING_SETUP_TASKRUN_FLAG refused) stays ordinary.
	void attach(unsigned i, io_uring *ring, bool taskrun_flag);
	// Ring thread @i, before its ring goes away.
	void detach(unsigned i);
	// What ring thread i shows the guard: its own cache line.
	struct alignas(64) Slot {
		std::atomic<uint32_t> sqes{ 0 }; // SQEs prepared (the kernel's
						 // sq head reaches it once it
						 // took them all)
	};

	// Ring thread @i put an SQE in its ring (a registration, a reply).
	void prepared(unsigned i)
	{
		// Only ring thread i writes it: no locked instruction.
		std::atomic<uint32_t> &n = slots_[i].sqes;
		n.store(n.load(std::memory_order_relaxed) + 1,
			std::memory_order_release);
		if (asleep_.load(std::memory_order_relaxed)) [[unlikely]]
			wake();
	}

	struct Impl;

  private:
	IdleGuard(unsigned nthreads, Mode mode);
	void wake();

	std::unique_ptr<Slot[]> slots_;
	std::atomic<bool> asleep_{ false };
	std::unique_ptr<Impl> impl_;
};

} // namespace zuf::uring

#endif // ZUF_FUSE_URING_GUARD_H
