// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_wire.h"

#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>

#include "fault/guard.h"
#include "fault/inject.h"
#include "kernel_shim/stats.h"

namespace zuf::wire {

namespace {

// FUSE_OVER_IO_URING (protocol 7.42) is bit 41 of the INIT flags, i.e. bit 9
// of flags2; Debian's <linux/fuse.h> predates it.
constexpr uint32_t kOverIoUringFlags2 = 1U << (41 - 32);
// FUSE_DIRECT_IO_ALLOW_MMAP (7.39): bit 36, i.e. bit 4 of flags2.
constexpr uint32_t kDirectIoAllowMmapFlags2 = 1U << (36 - 32);
static_assert(offsetof(fuse_init_in, flags2) == 16);
static_assert(offsetof(fuse_init_out, flags2) == 32);

thread_local bool t_kill_suidgid;
thread_local uint64_t t_sink_unique;
thread_local ReplySink *t_sink;

// One per process: zufuse runs one session (install() refuses a second).
std::atomic<bool> g_installed{ false };
std::atomic<bool> g_init_replied{ false };
std::atomic<bool> g_uring_offered{ false };
std::atomic<bool> g_dio_mmap_offered{ false };
std::atomic<bool> g_dio_mmap{ false }; // the INIT reply asked for it
std::mutex g_uring_mutex; // g_uring_started, set before the loop starts
std::function<void()> g_uring_started;

// Extra ops by opcode (set before the loop starts, read-only after).
constexpr uint32_t kMaxExtraOp = 64;
struct Extra {
	ExtraOp op = nullptr;
	void *ctx = nullptr;
};
Extra g_extra[kMaxExtraOp];
int g_fd = -1; // /dev/fuse, for replies to extra ops

template <class T> bool arg_at(const char *buf, size_t n, T *out)
{
	if (n < sizeof(fuse_in_header) + sizeof(T))
		return false;
	std::memcpy(out, buf + sizeof(fuse_in_header), sizeof(T));
	return true;
}

// What the INIT request offers that the reply hook needs to know.
void note_init(const char *p, size_t n)
{
	fuse_init_in init = {};
	if (n < sizeof(fuse_in_header) + offsetof(fuse_init_in, flags2) +
			sizeof(init.flags2))
		return;
	std::memcpy(&init, p + sizeof(fuse_in_header),
		    std::min(n - sizeof(fuse_in_header), sizeof(init)));
	g_uring_offered = (init.flags & FUSE_INIT_EXT) &&
			  (init.flags2 & kOverIoUringFlags2);
	g_dio_mmap_offered = (init.flags & FUSE_INIT_EXT) &&
			     (init.flags2 & kDirectIoAllowMmapFlags2);
}

ssize_t wire_read(int fd, void *buf, size_t len, void *)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n < 0) {
			t_kill_suidgid = false;
			return n;
		}
		note_request(buf, size_t(n));
		if (!serve_extra(buf, size_t(n)))
			return n;
	}
}

// The INIT reply: add our flags. True if it asks for io_uring.
bool patch_init_reply(struct iovec *iov, int count)
{
	if (count < 2 || iov[0].iov_len != sizeof(fuse_out_header) ||
	    iov[1].iov_len < offsetof(fuse_init_out, flags) + sizeof(uint32_t))
		return false;
	fuse_out_header out;
	std::memcpy(&out, iov[0].iov_base, sizeof(out));
	if (out.error != 0 || g_init_replied.exchange(true))
		return false;
	auto *init = static_cast<fuse_init_out *>(iov[1].iov_base);
	init->flags |= FUSE_HANDLE_KILLPRIV_V2;
	if (iov[1].iov_len < offsetof(fuse_init_out, flags2) + sizeof(uint32_t))
		return false;
	if (g_dio_mmap_offered) {
		init->flags |= FUSE_INIT_EXT;
		init->flags2 |= kDirectIoAllowMmapFlags2;
		g_dio_mmap = true;
	}

	std::lock_guard lock(g_uring_mutex);
	if (!g_uring_started || !g_uring_offered)
		return false;
	init->flags |= FUSE_INIT_EXT;
	init->flags2 |= kOverIoUringFlags2;
	return true;
}

// A zero-copy read reply points into the pmem mapping (fuse_file.cc).
// When a page of it cannot be read (a media error, an image shrunk under
// the mount) the kernel's copy fails: writev returns EFAULT and the kernel
// itself answers the request with EIO. Find and log the page (the probe
// faults under the guard, which logs the image offset).
void log_reply_fault(const struct iovec *iov, int count)
{
	for (int i = 1; i < count; ++i) {
		const char *p = static_cast<const char *>(iov[i].iov_base);
		if (!iov[i].iov_len ||
		    zufs::fault::image_offset(p) == UINT64_MAX)
			continue;
		const char *end = p + iov[i].iov_len;
		for (const char *q = p; q < end;
		     q = reinterpret_cast<const char *>((uintptr_t(q) | 4095) +
							1)) {
			if (zufs::fault::guarded(
				    zufs::fault::Access::kRead, nullptr, 0,
				    "read reply (the kernel answers EIO)",
				    [&] {
				(void)*static_cast<const volatile char *>(q);
				    }))
				return;
		}
	}
}

// Injected faults (inject.h) for replies from the mapping: answer EIO, as
// the kernel does for a reply it cannot copy. True if it did.
bool inject_reply_fault(int fd, const struct iovec *iov, int count)
{
	for (int i = 1; i < count; ++i) {
		if (!iov[i].iov_len ||
		    zufs::fault::image_offset(iov[i].iov_base) == UINT64_MAX)
			continue;
		if (zufs::fault::guarded(zufs::fault::Access::kRead,
					 iov[i].iov_base, iov[i].iov_len,
					 "read reply", [] {})) {
			fuse_out_header out;
			std::memcpy(&out, iov[0].iov_base, sizeof(out));
			out.len = sizeof(out);
			out.error = -EIO;
			ssize_t n = write(fd, &out, sizeof(out));
			(void)n;
			return true;
		}
	}
	return false;
}

ssize_t wire_writev(int fd, struct iovec *iov, int count, void *)
{
	stats::end(iov, count); // the reply is ready: the request is done
	if (t_sink && count >= 1 && iov[0].iov_len >= sizeof(fuse_out_header)) {
		fuse_out_header out;
		std::memcpy(&out, iov[0].iov_base, sizeof(out));
		if (out.unique == t_sink_unique && out.unique != 0)
			return t_sink->reply(iov, count);
	}
	bool uring = false;
	if (!g_init_replied.load(std::memory_order_acquire))
		uring = patch_init_reply(iov, count);
	if (zufs::fault::rules_active() && count > 1 &&
	    iov[0].iov_len >= sizeof(fuse_out_header) &&
	    inject_reply_fault(fd, iov, count))
		return ssize_t(
			iov[0].iov_len); // answered; libfuse sees no error
	ssize_t n = writev(fd, iov, count);
	if (n < 0 && errno == EFAULT) {
		const int e = errno;
		log_reply_fault(iov, count);
		errno = e;
	}
	// The kernel has processed INIT (fc->initialized) once the write
	// returns: the ring can register now.
	if (uring && n >= 0) {
		std::function<void()> started;
		{
			std::lock_guard lock(g_uring_mutex);
			started = std::move(g_uring_started);
		}
		if (started)
			started();
	}
	return n;
}

} // namespace

int install(fuse_session *se)
{
	if (g_installed.exchange(true))
		return -EBUSY;
	static const fuse_custom_io io = {
		.writev = wire_writev,
		.read = wire_read,
		.splice_receive = nullptr,
		.splice_send = nullptr,
	};
	g_fd = fuse_session_fd(se);
	return fuse_session_custom_io(se, &io, g_fd);
}

void set_extra_op(uint32_t opcode, ExtraOp op, void *ctx)
{
	if (opcode < kMaxExtraOp)
		g_extra[opcode] = { op, ctx };
}

bool serve_extra(const void *req, size_t len)
{
	fuse_in_header in;
	if (len < sizeof(in))
		return false;
	std::memcpy(&in, req, sizeof(in));
	if (in.opcode >= kMaxExtraOp || !g_extra[in.opcode].op)
		return false;
	const Extra &e = g_extra[in.opcode];
	if (in.len != len) { // a short read: not a request we can parse
		reply(in.unique, -EIO, nullptr, 0);
		return true;
	}
	e.op(e.ctx, in, static_cast<const char *>(req) + sizeof(in),
	     len - sizeof(in));
	return true;
}

ssize_t reply(uint64_t unique, int err, const iovec *payload, int count)
{
	iovec iov[8];
	if (count < 0 || count > 7) {
		errno = EINVAL;
		return -1;
	}
	fuse_out_header out = {};
	out.unique = unique;
	out.error = err;
	out.len = sizeof(out);
	iov[0] = { &out, sizeof(out) };
	for (int i = 0; !err && i < count; ++i) {
		iov[i + 1] = payload[i];
		out.len += uint32_t(payload[i].iov_len);
	}
	return wire_writev(g_fd, iov, err ? 1 : count + 1, nullptr);
}

bool kill_suidgid() { return t_kill_suidgid; }

bool direct_io_mmap() { return g_dio_mmap.load(std::memory_order_relaxed); }

void note_request(const void *req, size_t n)
{
	t_kill_suidgid = false;
	stats::begin(req, n);
	if (n < sizeof(fuse_in_header))
		return;
	const char *p = static_cast<const char *>(req);
	fuse_in_header in;
	std::memcpy(&in, p, sizeof(in));
	if (in.opcode == FUSE_WRITE) {
		fuse_write_in w;
		if (arg_at(p, n, &w))
			t_kill_suidgid =
				w.write_flags & FUSE_WRITE_KILL_SUIDGID;
	} else if (in.opcode == FUSE_SETATTR) {
		fuse_setattr_in s;
		if (arg_at(p, n, &s))
			t_kill_suidgid = s.valid & FATTR_KILL_SUIDGID;
	} else if (in.opcode == FUSE_INIT) {
		note_init(p, n);
	}
}

void set_reply_sink(uint64_t unique, ReplySink *sink)
{
	t_sink_unique = unique;
	t_sink = sink;
}

void want_uring(std::function<void()> started)
{
	std::lock_guard lock(g_uring_mutex);
	g_uring_started = std::move(started);
}

} // namespace zuf::wire
