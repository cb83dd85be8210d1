// SPDX-License-Identifier: BSD-3-Clause
//
// fuse_uring.h - FUSE over io_uring (kernel 6.14+, fs/fuse/dev_uring.c),
// zufuse's default transport: pinned server threads per CPU, the ZUFS
// answer to "which thread serves a request". The kernel queues a request on
// the queue of the CPU that issued it (qid = cpu); a thread pinned to that
// CPU serves it, so a synchronous caller and its server share a CPU and no
// other CPU is woken. The threads run SCHED_IDLE, so that the caller, woken
// by the reply, stays on that CPU, under a guard that makes a starved one
// ordinary again (fuse_uring_guard.h).
//
// Life cycle (FuseFrontend): create() after the session is mounted and
// before its loop runs: it starts two threads per possible CPU, pinned to
// it, each with its own io_uring and a ring entry (header + payload buffers;
// the second thread serves the CPU while the first is blocked),
// and returns only once all of them are set up, so a failure (no io_uring,
// ENOMEM) is known before INIT is answered and the mount goes on over
// /dev/fuse. start() runs once the kernel has taken an INIT reply carrying
// FUSE_OVER_IO_URING (fuse_wire.h): the threads register their entries;
// the kernel sends requests to the ring once every queue has one.
// The /dev/fuse loop keeps running: INIT, FORGET, INTERRUPT and anything
// the kernel sends before the ring is ready go there.
//
// Requests are dispatched through libfuse (fuse_session_process_buf): the
// header and the opcode's struct are copied in front of the payload, which
// the kernel wrote in place, so write data is not copied. The reply goes to
// the entry through wire::set_reply_sink (one copy of the reply's data, so
// a large read costs one copy more than over /dev/fuse), then
// COMMIT_AND_FETCH hands it back and waits for the next request.
//
// Teardown never hangs: when the connection goes away the kernel completes
// every entry with an error and the threads end; stop() (and the
// destructor) also ends them, through an eventfd every ring polls (the
// threads wait with no timeout), and joins them.
#ifndef ZUF_FUSE_URING_H
#define ZUF_FUSE_URING_H

#include <fuse_lowlevel.h>

#include <memory>
#include <string>

namespace zuf::uring {

// The kernel has FUSE over io_uring (/sys/module/fuse/parameters/enable_uring).
bool kernel_has_uring();

// Make sure the kernel offers io_uring at the next INIT: write Y to
// enable_uring if it is N and we may. 0, or a negative errno with *msg the
// one line to print; *note (if not empty) says what was changed.
int enable(std::string *msg, std::string *note);

class Rings {
  public:
	// One pinned thread and ring per possible CPU, entries allocated,
	// not registered yet. nullptr with *err the one line to print.
	static std::unique_ptr<Rings> create(fuse_session *se,
					     std::string *err);
	~Rings(); // stop()
	Rings(const Rings &) = delete;
	Rings &operator=(const Rings &) = delete;

	// INIT with FUSE_OVER_IO_URING was taken: register the entries.
	void start();
	// End the threads (the mount must be gone or going) and join them.
	void stop();

	struct Impl; // defined in fuse_uring.cc: only create() makes one
	explicit Rings(std::unique_ptr<Impl> impl);

  private:
	std::unique_ptr<Impl> impl_;
};

} // namespace zuf::uring

#endif // ZUF_FUSE_URING_H
