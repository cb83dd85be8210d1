// SPDX-License-Identifier: BSD-3-Clause
//
// t2.cc - the tier-2 device over Boost.Asio random_access_file on io_uring.
//
// Threads: rw() runs its batch on a "lane" (an io_context with its own
// io_uring and its own random_access_file) in the calling thread: submit,
// then run the context until the batch completes, with no thread hop.
// Lanes are reused, one per concurrent caller. rw_async() batches are
// started on one io thread that runs the device's main io_context; a
// completion thread runs their callbacks in FIFO order, so a callback may
// block or call back into the device without stalling the io thread. A
// random_access_file is only ever touched by the thread running its context.
#include "iomap/t2.h"
#include "iomap/t2_fault.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#if !defined(BOOST_ASIO_HAS_IO_URING) || !defined(BOOST_ASIO_DISABLE_EPOLL)
#error "t2.cc needs BOOST_ASIO_HAS_IO_URING and BOOST_ASIO_DISABLE_EPOLL"
#endif
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/random_access_file.hpp>
#include <boost/asio/read_at.hpp>
#include <boost/asio/write_at.hpp>

namespace asio = boost::asio;

namespace iomap {

namespace {

// Asio hands at most this many buffers to one readv/writev.
constexpr uint32_t kMaxIovPerOp = 64;

struct Run {
	uint64_t offset; // bytes in the device
	uint32_t first_buf;
	uint32_t n_bufs;
	bool write;
};

// One batch of page moves and its completion state.
struct Batch {
	std::vector<T2Page> owned; // rw_async keeps its pages here
	std::vector<asio::mutable_buffer> bufs;
	std::vector<Run> runs;
	std::atomic<uint32_t> remaining{ 0 };
	std::atomic<bool> failed{ false };
	bool has_writes = false;

	// sync: the waiter sleeps on `finished`
	std::atomic<int> finished{ 0 };
	int result = 0;

	// async
	T2Device::Done done;

	void plan(std::span<const T2Page> pages)
	{
		bufs.reserve(pages.size());
		const T2Page *prev = nullptr;
		for (const T2Page &p : pages) {
			char *mem = static_cast<char *>(p.mem);
			bool same_run = prev && prev->write == p.write &&
					p.bn == prev->bn + 1 &&
					runs.back().n_bufs < kMaxIovPerOp;
			if (same_run) {
				asio::mutable_buffer &last = bufs.back();
				char *end = static_cast<char *>(last.data()) +
					    last.size();
				if (end == mem) {
					last = asio::mutable_buffer(
						last.data(),
						last.size() + kT2BlockSize);
				} else {
					bufs.emplace_back(mem, kT2BlockSize);
					runs.back().n_bufs++;
				}
			} else {
				runs.push_back({ p.bn * kT2BlockSize,
						 uint32_t(bufs.size()), 1,
						 p.write });
				bufs.emplace_back(mem, kT2BlockSize);
			}
			has_writes |= p.write;
			prev = &p;
		}
		remaining = uint32_t(runs.size());
	}

	std::span<const asio::mutable_buffer> run_bufs(const Run &r) const
	{
		return { bufs.data() + r.first_buf, r.n_bufs };
	}
};

// Asio's transfer_all() caps each step at 64 KiB, which turns a 4 MiB run
// into 64 sequential io_uring ops; ask for everything at once instead.
size_t transfer_whole_run(const boost::system::error_code &ec, size_t)
{
	return ec ? 0 : size_t(1) << 30;
}

// preadv/pwritev until done: the buffered fallback for a run O_DIRECT
// refused.
int rw_run_buffered(int fd, const Run &r,
		    std::span<const asio::mutable_buffer> bufs)
{
	uint64_t off = r.offset;
	for (const asio::mutable_buffer &b : bufs) {
		char *p = static_cast<char *>(b.data());
		size_t left = b.size();
		while (left) {
			ssize_t n = r.write ? ::pwrite(fd, p, left, off) :
					      ::pread(fd, p, left, off);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -EIO;
			p += n;
			off += n;
			left -= size_t(n);
		}
	}
	return 0;
}

int errno_or(int fallback) { return errno ? -errno : fallback; }

} // namespace

struct T2Device::Impl {
	std::string path;
	uint64_t size_blocks = 0;
	bool direct = false;
	int fd_buffered = -1; // also holds the flock

	asio::io_context ctx{ 1 };
	asio::random_access_file file{ ctx };
	asio::executor_work_guard<asio::io_context::executor_type> work{
		ctx.get_executor()
	};
	std::thread io_thread;

	// rw_async batches in submission order; the front is delivered first.
	std::mutex mu;
	std::condition_variable cv;
	std::deque<std::shared_ptr<Batch>> fifo;
	bool stopping = false;
	std::thread completion_thread;

	// Idle lanes for synchronous batches.
	struct Lane {
		asio::io_context ctx{ 1 };
		asio::random_access_file file{ ctx };
	};
	std::mutex lanes_mu;
	std::vector<std::unique_ptr<Lane>> idle_lanes;

	std::atomic<uint64_t> n_batches{ 0 }, n_ops{ 0 }, n_rd{ 0 }, n_wr{ 0 },
		n_err{ 0 };

	~Impl()
	{
		{
			std::unique_lock lk(mu);
			stopping = true;
			cv.notify_all();
		}
		if (completion_thread.joinable())
			completion_thread.join();
		work.reset();
		if (io_thread.joinable())
			io_thread.join();
		boost::system::error_code ec;
		file.close(ec);
		if (fd_buffered >= 0)
			::close(fd_buffered);
	}

	void start_threads()
	{
		io_thread = std::thread([this] { ctx.run(); });
		completion_thread = std::thread([this] { deliver(); });
	}

	// Completion thread: run done callbacks in FIFO order.
	void deliver()
	{
		std::unique_lock lk(mu);
		for (;;) {
			cv.wait(lk, [this] {
				return (!fifo.empty() &&
					fifo.front()->finished) ||
				       (stopping && fifo.empty());
			});
			if (fifo.empty())
				return; // stopping and drained
			std::shared_ptr<Batch> b = std::move(fifo.front());
			fifo.pop_front();
			lk.unlock();
			b->done(settle(*b));
			b.reset();
			lk.lock();
		}
	}

	// After the I/O of a batch: writes are made durable before anyone
	// hears of success (not on the io thread: fdatasync blocks).
	int settle(Batch &b)
	{
		int r = b.result;
		if (!r && b.has_writes && ::fdatasync(fd_buffered) != 0)
			r = -EIO;
		if (r)
			n_err++;
		return r;
	}

	// Called on the io thread when the last run of a batch completes.
	void finish(const std::shared_ptr<Batch> &b, bool async)
	{
		b->result = b->failed ? -EIO : 0;
		if (async) {
			std::lock_guard lk(mu);
			b->finished = 1;
			cv.notify_all();
		} else {
			b->finished.store(1);
			b->finished.notify_one();
		}
	}

	void run_done(const std::shared_ptr<Batch> &b, const Run &r,
		      boost::system::error_code ec, bool async)
	{
		if (ec) {
			// O_DIRECT refuses some transfers (alignment, fs):
			// redo this run buffered; anything else is an error.
			bool retry =
				direct && ec == asio::error::invalid_argument;
			if (!retry ||
			    rw_run_buffered(fd_buffered, r, b->run_bufs(r)))
				b->failed = true;
		}
		if (b->remaining.fetch_sub(1) == 1)
			finish(b, async);
	}

	// Start every run of a batch on `f` (from the thread that runs f's
	// context): Asio queues the SQEs and submits them together.
	void issue(asio::random_access_file &f, const std::shared_ptr<Batch> &b,
		   bool async)
	{
		for (const Run &r : b->runs) {
			if (T2Fault ft = t2_fault_hit(r.write);
			    ft.kind != T2FaultKind::kNone &&
			    inject(f, b, r, ft, async))
				continue;
			auto h = [this, b, &r,
				  async](boost::system::error_code ec, size_t) {
				run_done(b, r, ec, async);
			};
			if (r.write)
				asio::async_write_at(f, r.offset,
						     b->run_bufs(r),
						     transfer_whole_run, h);
			else
				asio::async_read_at(f, r.offset, b->run_bufs(r),
						    transfer_whole_run, h);
		}
	}

	// A fault of t2_fault.h for run r: a stall waits here (the thread
	// that issues the run: the caller's lane, or the io thread for async
	// batches, as a hung device holds its queue) and lets the run go on;
	// an error completes it failed without I/O; a short transfer moves
	// its first half and then fails. True when the run is taken care of.
	bool inject(asio::random_access_file &f,
		    const std::shared_ptr<Batch> &b, const Run &r, T2Fault ft,
		    bool async)
	{
		const boost::system::error_code eio(
			EIO, boost::system::system_category());
		if (ft.kind == T2FaultKind::kStall) {
			std::this_thread::sleep_for(
				std::chrono::milliseconds(ft.stall_ms));
			return false;
		}
		size_t total = 0;
		for (const asio::mutable_buffer &m : b->run_bufs(r))
			total += m.size();
		size_t half = total / kT2BlockSize / 2 * kT2BlockSize;
		if (ft.kind == T2FaultKind::kError || !half) {
			asio::post(f.get_executor(), [this, b, &r, async, eio] {
				run_done(b, r, eio, async);
			});
			return true;
		}
		auto part =
			std::make_shared<std::vector<asio::mutable_buffer>>();
		for (const asio::mutable_buffer &m : b->run_bufs(r)) {
			size_t k = std::min(m.size(), half);
			if (!k)
				break;
			part->emplace_back(m.data(), k);
			half -= k;
		}
		auto h = [this, b, &r, async, part,
			  eio](boost::system::error_code, size_t) {
			run_done(b, r, eio, async);
		};
		if (r.write)
			asio::async_write_at(f, r.offset, *part,
					     transfer_whole_run, h);
		else
			asio::async_read_at(f, r.offset, *part,
					    transfer_whole_run, h);
		return true;
	}

	void start_async(const std::shared_ptr<Batch> &b)
	{
		n_batches++;
		n_ops += b->runs.size();
		if (b->runs.empty()) {
			finish(b, true);
			return;
		}
		asio::post(ctx, [this, b] { issue(file, b, true); });
	}

	// A synchronous batch, in the calling thread, on an idle lane.
	void run_sync(const std::shared_ptr<Batch> &b)
	{
		n_batches++;
		n_ops += b->runs.size();
		std::unique_ptr<Lane> lane = take_lane();
		if (!lane) { // cannot make a lane: go through the io thread
			asio::post(ctx, [this, b] { issue(file, b, false); });
			b->finished.wait(0);
			return;
		}
		issue(lane->file, b, false);
		lane->ctx.restart();
		lane->ctx.run(); // returns when every run has completed
		std::lock_guard lk(lanes_mu);
		idle_lanes.push_back(std::move(lane));
	}

	std::unique_ptr<Lane> take_lane()
	{
		{
			std::lock_guard lk(lanes_mu);
			if (!idle_lanes.empty()) {
				auto l = std::move(idle_lanes.back());
				idle_lanes.pop_back();
				return l;
			}
		}
		try {
			auto l = std::make_unique<Lane>();
			int fd = ::fcntl(file.native_handle(), F_DUPFD_CLOEXEC,
					 0);
			if (fd < 0)
				return nullptr;
			boost::system::error_code ec;
			l->file.assign(fd, ec);
			if (ec) {
				::close(fd);
				return nullptr;
			}
			return l;
		} catch (const std::exception &) {
			return nullptr;
		}
	}

	void count(std::span<const T2Page> pages)
	{
		for (const T2Page &p : pages)
			(p.write ? n_wr : n_rd)++;
	}
};

T2Device::T2Device(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

T2Device::~T2Device() = default;

static int open_impl(const std::string &path, uint64_t size_bytes,
		     std::unique_ptr<T2Device::Impl> *out, std::string *msg)
{
	auto fail = [&](int err, const std::string &why) {
		if (msg)
			*msg = "t2 " + path + ": " + why;
		return err;
	};

	auto impl = std::make_unique<T2Device::Impl>();
	impl->path = path;

	int flags = O_RDWR | O_CLOEXEC;
	int fd = ::open(path.c_str(), flags | (size_bytes ? O_CREAT : 0), 0600);
	if (fd < 0) {
		int e = errno;
		return fail(-e, std::string(strerror(e)) +
					(e == ENOENT ?
						 " (give a size to create it)" :
						 ""));
	}
	impl->fd_buffered = fd;
	if (::flock(fd, LOCK_EX | LOCK_NB) != 0)
		return fail(-EBUSY,
			    "already in use by another zufuse (locked)");

	struct stat st;
	if (::fstat(fd, &st) != 0)
		return fail(errno_or(-EIO), "cannot stat");
	uint64_t bytes = 0;
	if (S_ISBLK(st.st_mode)) {
		if (::ioctl(fd, BLKGETSIZE64, &bytes) != 0)
			return fail(errno_or(-EIO), "cannot get device size");
	} else if (S_ISREG(st.st_mode)) {
		bytes = uint64_t(st.st_size);
		if (size_bytes > bytes) {
			if (::ftruncate(fd, off_t(size_bytes)) != 0)
				return fail(
					errno_or(-EIO),
					"cannot grow to the requested size");
			bytes = size_bytes;
		}
	} else {
		return fail(-EINVAL, "not a block device or a regular file");
	}
	impl->size_blocks = bytes / kT2BlockSize;
	if (impl->size_blocks == 0)
		return fail(-EINVAL, "empty (give a size to grow it)");

	// Asio owns the io fd: O_DIRECT when the file system accepts it,
	// except on tmpfs, where "direct" I/O is a page-cache copy anyway and
	// io_uring must punt it to a worker thread (4 KiB: ~60 us, not ~5).
	struct statfs sfs;
	bool tmpfs = ::fstatfs(fd, &sfs) == 0 && sfs.f_type == TMPFS_MAGIC;
	int io_fd = tmpfs ? -1 : ::open(path.c_str(), flags | O_DIRECT);
	impl->direct = io_fd >= 0;
	if (io_fd < 0)
		io_fd = ::open(path.c_str(), flags);
	if (io_fd < 0)
		return fail(errno_or(-EIO), "cannot open for I/O");
	boost::system::error_code ec;
	impl->file.assign(io_fd, ec);
	if (ec) {
		::close(io_fd);
		return fail(-EIO, "io_uring: " + ec.message());
	}

	*out = std::move(impl);
	return 0;
}

int T2Device::open(const std::string &path, uint64_t size_bytes,
		   std::unique_ptr<T2Device> *out, std::string *msg)
{
	// Asio reports a missing io_uring (old kernel, seccomp, sysctl
	// kernel.io_uring_disabled) by throwing: it stops here.
	try {
		// Tests' faults (t2_fault.h): a bad rule refuses the T2.
		std::string why;
		if (int err = set_t2_faults_from_env(&why)) {
			if (msg)
				*msg = std::string(kT2FaultEnv) + ": " + why;
			return err;
		}
		std::unique_ptr<Impl> impl;
		int err = open_impl(path, size_bytes, &impl, msg);
		if (err)
			return err;
		impl->start_threads();
		out->reset(new T2Device(std::move(impl)));
		return 0;
	} catch (const std::exception &e) {
		if (msg)
			*msg = "t2 " + path + ": cannot start io_uring (" +
			       e.what() + ")";
		return -ENOSYS;
	}
}

uint64_t T2Device::size_blocks() const { return impl_->size_blocks; }
bool T2Device::direct() const { return impl_->direct; }
const std::string &T2Device::path() const { return impl_->path; }

T2Stats T2Device::stats() const
{
	T2Stats s;
	s.batches = impl_->n_batches;
	s.ops = impl_->n_ops;
	s.pages_read = impl_->n_rd;
	s.pages_written = impl_->n_wr;
	s.errors = impl_->n_err;
	return s;
}

int T2Device::rw(std::span<const T2Page> pages)
{
	if (pages.empty())
		return 0;
	try {
		auto b = std::make_shared<Batch>();
		b->plan(pages);
		impl_->count(pages);
		impl_->run_sync(b);
		return impl_->settle(*b);
	} catch (const std::exception &) { // allocation failed
		return -ENOMEM;
	}
}

int T2Device::rw_async(std::vector<T2Page> pages, Done done)
{
	std::shared_ptr<Batch> b;
	try {
		b = std::make_shared<Batch>();
		b->owned = std::move(pages);
		b->plan(b->owned);
		b->done = std::move(done);
	} catch (const std::exception &) {
		return -ENOMEM;
	}
	impl_->count(b->owned);
	{
		std::lock_guard lk(impl_->mu);
		impl_->fifo.push_back(b);
	}
	try {
		impl_->start_async(b);
	} catch (const std::exception &) {
		// Queued already: complete it as failed so done still runs
		// once, in order.
		b->failed = true;
		impl_->finish(b, true);
	}
	return 0;
}

} // namespace iomap
