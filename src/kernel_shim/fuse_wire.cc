// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/fuse_wire.h"

#include <linux/fuse.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace zuf::wire {

namespace {

thread_local bool t_kill_suidgid;

// One per process: zufuse runs one session (install() refuses a second).
std::atomic<bool> g_installed{false};
std::atomic<bool> g_init_replied{false};

template <class T> bool arg_at(const char *buf, size_t n, T *out)
{
	if (n < sizeof(fuse_in_header) + sizeof(T))
		return false;
	std::memcpy(out, buf + sizeof(fuse_in_header), sizeof(T));
	return true;
}

ssize_t wire_read(int fd, void *buf, size_t len, void *)
{
	ssize_t n = read(fd, buf, len);
	t_kill_suidgid = false;
	if (n < ssize_t(sizeof(fuse_in_header)))
		return n;
	const char *p = static_cast<const char *>(buf);
	fuse_in_header in;
	std::memcpy(&in, p, sizeof(in));
	if (in.opcode == FUSE_WRITE) {
		fuse_write_in w;
		if (arg_at(p, n, &w))
			t_kill_suidgid = w.write_flags & FUSE_WRITE_KILL_SUIDGID;
	} else if (in.opcode == FUSE_SETATTR) {
		fuse_setattr_in s;
		if (arg_at(p, n, &s))
			t_kill_suidgid = s.valid & FATTR_KILL_SUIDGID;
	}
	return n;
}

ssize_t wire_writev(int fd, struct iovec *iov, int count, void *)
{
	if (!g_init_replied.load(std::memory_order_acquire) && count >= 2 &&
	    iov[0].iov_len == sizeof(fuse_out_header) &&
	    iov[1].iov_len >= offsetof(fuse_init_out, flags) + sizeof(uint32_t)) {
		fuse_out_header out;
		std::memcpy(&out, iov[0].iov_base, sizeof(out));
		if (out.error == 0 && !g_init_replied.exchange(true)) {
			auto *init = static_cast<fuse_init_out *>(iov[1].iov_base);
			init->flags |= FUSE_HANDLE_KILLPRIV_V2;
		}
	}
	return writev(fd, iov, count);
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
	return fuse_session_custom_io(se, &io, fuse_session_fd(se));
}

bool kill_suidgid()
{
	return t_kill_suidgid;
}

} // namespace zuf::wire
