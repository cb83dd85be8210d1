// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_uring.h"

#include <fcntl.h>
#include <liburing.h>
#include <linux/fuse.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "fault/guard.h"
#include "kernel_shim/fuse_uring_guard.h"
#include "kernel_shim/fuse_wire.h"

namespace zuf::uring {

namespace {

// ~~~ the kernel ABI (include/uapi/linux/fuse.h 7.42; newer than Debian's) ~~~

constexpr uint32_t kCmdRegister = 1;	   // FUSE_IO_URING_CMD_REGISTER
constexpr uint32_t kCmdCommitAndFetch = 2; // FUSE_IO_URING_CMD_COMMIT_AND_FETCH

struct RingEntInOut { // struct fuse_uring_ent_in_out
	uint64_t flags;
	uint64_t commit_id; // the request's unique: echoed by COMMIT
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};
static_assert(sizeof(RingEntInOut) == 32);

struct RingReqHeader {	  // struct fuse_uring_req_header
	char in_out[128]; // fuse_in_header in, fuse_out_header out
	char op_in[128];  // the opcode's fixed struct (in_args[0])
	RingEntInOut ring_ent_in_out;
};
static_assert(sizeof(RingReqHeader) == 288);
static_assert(sizeof(fuse_in_header) <= sizeof(RingReqHeader::in_out));

struct RingCmdReq { // struct fuse_uring_cmd_req, in the SQE's cmd area
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
static_assert(sizeof(RingCmdReq) == 24);

// The 80-byte command area of a 128-byte SQE starts where addr3 is.
constexpr size_t kSqeCmdOffset = 48;
static_assert(offsetof(io_uring_sqe, addr3) == kSqeCmdOffset);
static_assert(kSqeCmdOffset + sizeof(RingCmdReq) <= 128);

constexpr const char kEnableParam[] =
	"/sys/module/fuse/parameters/enable_uring";

// ~~~ sizes ~~~

constexpr size_t kPage = 4096;
// At least the kernel's max payload: max(max_write, max_pages pages), 1 MiB
// for zufuse (fuse_frontend.cc), plus a page of slack.
constexpr size_t kPayloadSize = (size_t(1) << 20) + kPage;
// Threads per queue (per CPU), each with one ring entry: an entry is
// available exactly when its thread is idle, so a request that blocks (an
// O_DSYNC write, a synchronous T2 eviction) does not hold up the next one
// from that CPU while the other thread waits for work. (One thread with
// two entries measured the same for a single stream.)
constexpr unsigned kThreadsPerQueue = 2;
constexpr unsigned kEntriesPerThread = 1;
// SQ and CQ: a command per entry and the poll of the stop eventfd.
constexpr unsigned kRingDepth = 4;
static_assert(kRingDepth >= kEntriesPerThread + 1);
// The user_data of each ring's poll of the stop eventfd (Rings::stop()).
char kStopTag;
// REGISTER before the kernel has taken INIT is EAGAIN: retry, 1 ms apart.
constexpr unsigned kRegisterTries = 5000;

// Anonymous memory, unmapped on destruction.
class Mapping {
  public:
	Mapping() = default;
	explicit Mapping(size_t len)
	{
		void *p =
			mmap(nullptr, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (p != MAP_FAILED) {
			p_ = static_cast<char *>(p);
			len_ = len;
		}
	}
	~Mapping()
	{
		if (p_)
			munmap(p_, len_);
	}
	Mapping(const Mapping &) = delete;
	Mapping &operator=(const Mapping &) = delete;
	char *get() const { return p_; }

  private:
	char *p_ = nullptr;
	size_t len_ = 0;
};

// One ring entry: the kernel's header buffer and payload buffer, laid out
// in one mapping so the request can be rebuilt contiguously in front of the
// payload:
//   page 0: RingReqHeader at 0 ... [fuse_in_header][op struct] | payload
//   page 1..: payload (kPayloadSize)
class Entry final : public wire::ReplySink {
  public:
	bool init()
	{
		mem_ = std::make_unique<Mapping>(kPage + kPayloadSize);
		if (!mem_->get())
			return false;
		hdr_ = reinterpret_cast<RingReqHeader *>(mem_->get());
		payload_ = mem_->get() + kPage;
		iov_[0] = { hdr_, sizeof(*hdr_) };
		iov_[1] = { payload_, kPayloadSize };
		return true;
	}

	const iovec *iov() const { return iov_; }
	uint64_t commit_id() const { return commit_id_; }

	// Serve the request the kernel put in this entry; the reply is in
	// the entry when this returns.
	void serve(fuse_session *se)
	{
		fuse_in_header in;
		RingEntInOut eio;
		std::memcpy(&in, hdr_->in_out, sizeof(in));
		std::memcpy(&eio, &hdr_->ring_ent_in_out, sizeof(eio));
		commit_id_ = eio.commit_id;

		// in.len counts the header, the op struct and the payload.
		size_t fixed = sizeof(in) + size_t(eio.payload_sz);
		if (eio.payload_sz > kPayloadSize || in.len < fixed ||
		    in.len - fixed > sizeof(hdr_->op_in))
			return reply_error(in.unique, -EIO);
		size_t op = in.len - fixed;
		char *req = payload_ - op - sizeof(in);
		std::memcpy(req, &in, sizeof(in));
		std::memcpy(req + sizeof(in), hdr_->op_in, op);

		wire::note_request(req, in.len);
		replied_ = false;
		wire::set_reply_sink(in.unique, this);
		if (!wire::serve_extra(req, in.len)) { // one libfuse knows
			fuse_buf buf = {};
			buf.size = in.len;
			buf.mem = req;
			fuse_session_process_buf(se, &buf);
		}
		wire::set_reply_sink(0, nullptr);
		if (!replied_) // every request through the ring has a reply
			reply_error(in.unique, -EIO);
	}

	ssize_t reply(const iovec *iov, int count) override
	{
		if (count < 1 || iov[0].iov_len != sizeof(fuse_out_header)) {
			errno = EINVAL;
			return -1;
		}
		size_t total = 0;
		for (int i = 1; i < count; ++i)
			total += iov[i].iov_len;
		fuse_out_header out;
		std::memcpy(&out, iov[0].iov_base, sizeof(out));
		if (total > kPayloadSize) {
			reply_error(out.unique, -EIO);
			return ssize_t(sizeof(out) + total);
		}
		size_t at = 0;
		for (int i = 1; i < count; ++i) { // may alias the payload
			// A zero-copy read reply points into pmem: a media
			// fault there (fault/guard.h) answers EIO.
			int err = zufs::fault::guarded(
				zufs::fault::Access::kRead, iov[i].iov_base,
				iov[i].iov_len,
				"read reply copied into the ring",
				[&] {
				std::memmove(payload_ + at, iov[i].iov_base,
					     iov[i].iov_len);
				});
			if (err) {
				reply_error(out.unique, err);
				return ssize_t(sizeof(out) + total);
			}
			at += iov[i].iov_len;
		}
		set_reply(out, uint32_t(total));
		return ssize_t(sizeof(out) + total);
	}

  private:
	void reply_error(uint64_t unique, int err)
	{
		fuse_out_header out = {};
		out.len = sizeof(out);
		out.error = err;
		out.unique = unique;
		set_reply(out, 0);
	}

	void set_reply(const fuse_out_header &out, uint32_t payload_sz)
	{
		std::memcpy(hdr_->in_out, &out, sizeof(out));
		RingEntInOut eio = {};
		eio.commit_id = commit_id_;
		eio.payload_sz = payload_sz;
		std::memcpy(&hdr_->ring_ent_in_out, &eio, sizeof(eio));
		replied_ = true;
	}

	std::unique_ptr<Mapping> mem_;
	RingReqHeader *hdr_ = nullptr;
	char *payload_ = nullptr;
	iovec iov_[2] = {};
	uint64_t commit_id_ = 0;
	bool replied_ = false;
};

// The CPUs the kernel makes queues for: 0 .. highest possible CPU.
unsigned possible_cpus()
{
	unsigned n = 0;
	if (FILE *f = std::fopen("/sys/devices/system/cpu/possible", "r")) {
		char line[256];
		if (std::fgets(line, sizeof(line), f)) {
			// "0-3,8-11": the last number is the highest CPU.
			unsigned v = 0;
			bool digits = false;
			for (const char *p = line; *p; ++p) {
				if (*p >= '0' && *p <= '9') {
					v = (digits ? v * 10 : 0) + (*p - '0');
					digits = true;
				} else if (digits) {
					n = std::max(n, v + 1);
					digits = false;
				}
			}
		}
		std::fclose(f);
	}
	if (n == 0)
		n = unsigned(std::max(1L, sysconf(_SC_NPROCESSORS_CONF)));
	return n;
}

} // namespace

bool kernel_has_uring() { return access(kEnableParam, F_OK) == 0; }

int enable(std::string *msg, std::string *note)
{
	int fd = open(kEnableParam, O_RDONLY);
	if (fd < 0) {
		*msg = "FUSE io_uring: this kernel has no FUSE over io_uring (no " +
		       std::string(kEnableParam) + "); using /dev/fuse";
		return -EOPNOTSUPP;
	}
	char c = 0;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	if (n == 1 && c == 'Y')
		return 0;
	if (geteuid() != 0) {
		*msg = "FUSE io_uring: " + std::string(kEnableParam) +
		       " is N and only root may set it; using /dev/fuse";
		return -EPERM;
	}
	fd = open(kEnableParam, O_WRONLY);
	if (fd < 0 || write(fd, "Y", 1) != 1) {
		int err = errno;
		if (fd >= 0)
			close(fd);
		*msg = "FUSE io_uring: cannot set " +
		       std::string(kEnableParam) + ": " + std::strerror(err) +
		       "; using /dev/fuse";
		return -err;
	}
	close(fd);
	*note = "FUSE io_uring: set " + std::string(kEnableParam) + " to Y";
	return 0;
}

// ~~~ one queue: pinned threads, each with its ring and its entry ~~~

struct Rings::Impl {
	struct Worker {		 // a thread serving queue qid
		unsigned id = 0; // in workers (and the guard's slots)
		unsigned qid = 0;
		unsigned index = 0; // 0 .. kThreadsPerQueue - 1
		std::thread thread;
		std::string err; // set up failed: why (under mutex)
		bool ready = false;
	};

	fuse_session *se = nullptr;
	int fuse_fd = -1;
	int stop_fd = -1; // eventfd: written once by stop(), wakes every ring
	std::vector<Worker> workers;
	std::unique_ptr<IdleGuard> guard; // nullptr: ordinary threads

	std::mutex mutex;
	std::condition_variable cv;
	unsigned reported = 0; // threads done with set-up (ok or not)
	bool go = false;       // start(): register
	std::atomic<bool> stopping{ false };
	std::atomic<bool> refused{ false }; // said so once

	void run(Worker &q);
	void report(Worker &q, std::string err);
	bool wait_go();
};

void Rings::Impl::report(Worker &q, std::string err)
{
	std::lock_guard lock(mutex);
	q.err = std::move(err);
	q.ready = q.err.empty();
	++reported;
	cv.notify_all();
}

bool Rings::Impl::wait_go()
{
	std::unique_lock lock(mutex);
	cv.wait(lock, [&] { return go || stopping.load(); });
	return go && !stopping;
}

namespace {

// A URING_CMD for /dev/fuse in the next SQE (the SQ has room for every
// entry of the queue, so there always is one).
io_uring_sqe *prep_cmd(io_uring *ring, int fd, uint32_t op,
		       const RingCmdReq &cmd, void *data)
{
	io_uring_sqe *sqe = io_uring_get_sqe(ring);
	if (!sqe)
		return nullptr;
	// An SQE128 slot: twice the size of the struct that names it.
	auto *slot = reinterpret_cast<char *>(sqe);
	std::memset(slot, 0, 2 * sizeof(*sqe));
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fd;
	sqe->cmd_op = op;
	std::memcpy(slot + kSqeCmdOffset, &cmd, sizeof(cmd));
	io_uring_sqe_set_data(sqe, data);
	return sqe;
}

// A ring for one thread: SQE128 for the command area; single issuer with
// deferred task work where the kernel has them (the thread runs the
// kernel's completions itself, when it waits: 0.7 us less per request
// than without them, measured), and IORING_SQ_TASKRUN in the ring's flags
// while such work waits for the thread (what the guard looks at).
// *taskrun_flag: the last one was granted.
int ring_init(io_uring *ring, bool *taskrun_flag)
{
	const unsigned tries[] = {
		IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_TASKRUN_FLAG,
		IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER |
			IORING_SETUP_DEFER_TASKRUN,
		IORING_SETUP_SQE128,
	};
	int err = -EINVAL;
	for (unsigned flags : tries) {
		io_uring_params p = {};
		p.flags = flags;
		err = io_uring_queue_init_params(kRingDepth, ring, &p);
		*taskrun_flag = flags & IORING_SETUP_TASKRUN_FLAG;
		if (err != -EINVAL)
			break;
	}
	return err;
}

// Where a queue's threads run: pinned to the queue's CPU. The kernel
// queues a request on the CPU that issued it, so its server is already
// there. (Their policy is the guard's: fuse_uring_guard.h.)
void pin_thread(unsigned qid)
{
	// A CPU that is possible but offline gets no requests; its queue
	// only has to be registered, from anywhere.
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(qid, &set);
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

} // namespace

void Rings::Impl::run(Worker &q)
{
	char name[16];
	std::snprintf(name, sizeof(name), "zufuse-ring%u.%u", q.qid, q.index);
	pthread_setname_np(pthread_self(), name);
	pin_thread(q.qid);

	io_uring ring;
	bool taskrun_flag = false;
	if (int err = ring_init(&ring, &taskrun_flag)) {
		report(q,
		       std::string("io_uring_setup: ") + std::strerror(-err));
		return;
	}
	std::vector<std::unique_ptr<Entry>> entries;
	for (unsigned i = 0; i < kEntriesPerThread; ++i) {
		entries.push_back(std::make_unique<Entry>());
		if (!entries.back()->init()) {
			io_uring_queue_exit(&ring);
			report(q, std::string("ring buffers: ") +
					  std::strerror(ENOMEM));
			return;
		}
	}
	report(q, "");
	if (!wait_go()) {
		io_uring_queue_exit(&ring);
		return;
	}
	if (guard)
		guard->attach(q.id, &ring, taskrun_flag);
	auto prepared = [&] {
		if (guard)
			guard->prepared(q.id);
	};

	RingCmdReq cmd = {};
	cmd.qid = uint16_t(q.qid);
	auto do_register = [&](Entry *e) { // the iovec pair at sqe->addr
		io_uring_sqe *sqe =
			prep_cmd(&ring, fuse_fd, kCmdRegister, cmd, e);
		if (!sqe) // cannot happen: the SQ holds every entry
			return;
		sqe->addr = reinterpret_cast<uintptr_t>(e->iov());
		sqe->len = 2;
		prepared();
	};
	for (auto &e : entries)
		do_register(e.get());
	// A sleeping thread wakes when stop() writes the eventfd (no
	// timeout on the wait: arming one costs every request).
	io_uring_sqe *poll = io_uring_get_sqe(&ring);
	io_uring_prep_poll_add(poll, stop_fd, POLLIN);
	io_uring_sqe_set_data(poll, &kStopTag);
	prepared();

	unsigned live = entries.size();
	bool registered = false;
	unsigned not_yet = 0; // REGISTER answered EAGAIN: INIT not done
	bool said = false;
	while (live > 0 && !stopping.load(std::memory_order_relaxed)) {
		io_uring_cqe *cqe = nullptr;
		int err = io_uring_submit_and_wait(&ring, 1);
		// Leaving would strand this CPU's requests: keep serving.
		if (err < 0 && err != -EINTR) {
			if (!said)
				std::fprintf(stderr,
					     "zufuse: io_uring queue %u: %s\n",
					     q.qid, std::strerror(-err));
			said = true;
			usleep(1000);
		}
		unsigned head, seen = 0;
		const unsigned ready = io_uring_cq_ready(&ring);
		io_uring_for_each_cqe(&ring, head, cqe)
		{
			++seen;
			if (io_uring_cqe_get_data(cqe) == &kStopTag) {
				live = 0;
				continue;
			}
			auto *e = static_cast<Entry *>(
				io_uring_cqe_get_data(cqe));
			if (cqe->res == -EAGAIN && !registered &&
			    ++not_yet < kRegisterTries) {
				usleep(1000);
				do_register(e);
				continue;
			}
			if (cqe->res < 0) {
				// The connection is gone (ENOTCONN,
				// ECONNABORTED, ECANCELED), or the kernel
				// refused the ring and serves /dev/fuse.
				--live;
				if (!registered && cqe->res != -ENOTCONN &&
				    cqe->res != -ECONNABORTED &&
				    !refused.exchange(true))
					std::fprintf(
						stderr,
						"zufuse: FUSE io_uring: the "
						"kernel refused the ring "
						"(%s); serving over "
						"/dev/fuse\n",
						std::strerror(-cqe->res));
				continue;
			}
			registered = true;
			e->serve(se);
			cmd.commit_id = e->commit_id();
			if (!prep_cmd(&ring, fuse_fd, kCmdCommitAndFetch, cmd,
				      e)) {
				--live; // cannot happen: SQ >= entries
				continue;
			}
			prepared();
			if (seen < ready)
				io_uring_submit(&ring); // hold no reply back
		}
		io_uring_cq_advance(&ring, seen);
	}
	if (guard)
		guard->detach(q.id);
	// Cancels what is still registered: the kernel completes it.
	io_uring_queue_exit(&ring);
}

std::unique_ptr<Rings> Rings::create(fuse_session *se, std::string *err)
{
	auto rings = std::make_unique<Rings>(std::make_unique<Impl>());
	Impl &im = *rings->impl_;
	im.se = se;
	im.fuse_fd = fuse_session_fd(se);
	im.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (im.stop_fd < 0) {
		*err = std::string("FUSE io_uring: eventfd: ") +
		       std::strerror(errno) + "; using /dev/fuse";
		return nullptr;
	}
	im.workers =
		std::vector<Impl::Worker>(possible_cpus() * kThreadsPerQueue);
	im.guard = IdleGuard::create(im.workers.size(),
				     IdleGuard::mode_from_env());
	for (unsigned i = 0; i < im.workers.size(); ++i) {
		Impl::Worker &w = im.workers[i];
		w.id = i;
		w.qid = i / kThreadsPerQueue;
		w.index = i % kThreadsPerQueue;
		w.thread = std::thread([&im, &w] { im.run(w); });
	}
	std::unique_lock lock(im.mutex);
	im.cv.wait(lock, [&] { return im.reported == im.workers.size(); });
	for (const Impl::Worker &q : im.workers) {
		if (!q.ready) {
			*err = "FUSE io_uring: queue " + std::to_string(q.qid) +
			       ": " + q.err + "; using /dev/fuse";
			lock.unlock();
			rings->stop();
			return nullptr;
		}
	}
	return rings;
}

Rings::Rings(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Rings::~Rings() { stop(); }

void Rings::start()
{
	std::lock_guard lock(impl_->mutex);
	impl_->go = true;
	impl_->cv.notify_all();
}

void Rings::stop()
{
	if (!impl_)
		return;
	{
		std::lock_guard lock(impl_->mutex);
		impl_->stopping = true;
		impl_->cv.notify_all();
	}
	uint64_t one = 1;
	if (impl_->stop_fd >= 0 &&
	    write(impl_->stop_fd, &one, sizeof(one)) != sizeof(one))
		std::fprintf(stderr,
			     "zufuse: io_uring: cannot wake the rings: %s\n",
			     std::strerror(errno));
	for (Impl::Worker &q : impl_->workers)
		if (q.thread.joinable())
			q.thread.join();
	impl_->guard.reset();
	if (impl_->stop_fd >= 0)
		close(impl_->stop_fd);
	impl_->stop_fd = -1;
}

} // namespace zuf::uring
