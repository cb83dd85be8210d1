// SPDX-License-Identifier: BSD-3-Clause
//
// debug_log.cc - the per-request debug log of stats.h: one line per request
// of the classes switched on ("#unique op ino=N args -> result (time)"),
// the classes and the words that switch them (zufusectl debug). The
// transport's hooks in stats.cc call it (debug_log.h).
#include "kernel_shim/debug_log.h"

#include <linux/fuse.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "kernel_shim/stats.h"

namespace zuf::stats {

namespace {

std::atomic<uint32_t> g_mask{ 0 };
std::atomic<bool> g_syslog{ false };

// "#unique op ino=.. args" of the request this thread is serving, kept
// from note_request() to log_reply().
thread_local char t_text[400] ZUF_TLS_IE;

// Appends to a fixed buffer, truncating.
struct Line {
	char *buf;
	size_t cap;
	size_t len = 0;

	void add(const char *fmt, ...) __attribute__((format(printf, 2, 3)))
	{
		if (len + 1 >= cap)
			return;
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(buf + len, cap - len, fmt, ap);
		va_end(ap);
		if (n > 0)
			len = std::min(cap - 1, len + size_t(n));
	}
};

// The NUL-terminated name at *at in the request, advancing *at past it.
const char *take_name(const char *p, size_t n, size_t *at)
{
	if (*at >= n)
		return "";
	const char *s = p + *at;
	const size_t avail = n - *at;
	const size_t len = strnlen(s, avail);
	*at += len + 1;
	return len < avail ? s : ""; // not terminated inside the request
}

template <class T> bool arg(const char *p, size_t n, T *out)
{
	if (n < sizeof(fuse_in_header) + sizeof(T))
		return false;
	std::memcpy(out, p + sizeof(fuse_in_header), sizeof(T));
	return true;
}

// "#unique op ino=N args" of a request, for its debug line.
void describe(Line &l, const fuse_in_header &in, const char *p, size_t n)
{
	l.add("#%llu %s ino=%llu", (unsigned long long)in.unique,
	      op_name(slot_of(in.opcode)), (unsigned long long)in.nodeid);
	size_t at = sizeof(fuse_in_header);
	auto name_after = [&](size_t skip) {
		at += skip;
		return take_name(p, n, &at);
	};
	switch (in.opcode) {
	case FUSE_LOOKUP:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
	case FUSE_REMOVEXATTR:
		l.add(" \"%s\"", name_after(0));
		break;
	case FUSE_GETXATTR:
		l.add(" \"%s\"", name_after(sizeof(fuse_getxattr_in)));
		break;
	case FUSE_SETXATTR: // libfuse 3.14 never asks for FUSE_SETXATTR_EXT
		l.add(" \"%s\"", name_after(FUSE_COMPAT_SETXATTR_IN_SIZE));
		break;
	case FUSE_MKDIR: {
		fuse_mkdir_in a;
		if (arg(p, n, &a))
			l.add(" \"%s\" mode=0%o", name_after(sizeof(a)),
			      a.mode);
		break;
	}
	case FUSE_MKNOD: {
		fuse_mknod_in a;
		if (arg(p, n, &a))
			l.add(" \"%s\" mode=0%o", name_after(sizeof(a)),
			      a.mode);
		break;
	}
	case FUSE_CREATE: {
		fuse_create_in a;
		if (arg(p, n, &a))
			l.add(" \"%s\" mode=0%o flags=0x%x",
			      name_after(sizeof(a)), a.mode, a.flags);
		break;
	}
	case FUSE_SYMLINK: {
		const char *name = name_after(0);
		l.add(" \"%s\" -> \"%s\"", name, take_name(p, n, &at));
		break;
	}
	case FUSE_LINK: {
		fuse_link_in a;
		if (arg(p, n, &a))
			l.add(" from=%llu \"%s\"",
			      (unsigned long long)a.oldnodeid,
			      name_after(sizeof(a)));
		break;
	}
	case FUSE_RENAME:
	case FUSE_RENAME2: {
		fuse_rename2_in a = {};
		size_t skip = in.opcode == FUSE_RENAME ?
				      sizeof(fuse_rename_in) :
				      sizeof(fuse_rename2_in);
		if (n < sizeof(fuse_in_header) + skip)
			break;
		std::memcpy(&a, p + sizeof(fuse_in_header), skip);
		const char *from = name_after(skip);
		l.add(" \"%s\" -> %llu \"%s\"", from,
		      (unsigned long long)a.newdir, take_name(p, n, &at));
		if (a.flags)
			l.add(" flags=0x%x", a.flags);
		break;
	}
	case FUSE_READ: {
		fuse_read_in a;
		if (arg(p, n, &a))
			l.add(" off=%llu len=%u", (unsigned long long)a.offset,
			      a.size);
		break;
	}
	case FUSE_WRITE: {
		fuse_write_in a;
		if (arg(p, n, &a))
			l.add(" off=%llu len=%u flags=0x%x",
			      (unsigned long long)a.offset, a.size,
			      a.write_flags);
		break;
	}
	case FUSE_SETATTR: {
		fuse_setattr_in a;
		if (!arg(p, n, &a))
			break;
		l.add(" valid=0x%x", a.valid);
		if (a.valid & FATTR_SIZE)
			l.add(" size=%llu", (unsigned long long)a.size);
		if (a.valid & FATTR_MODE)
			l.add(" mode=0%o", a.mode);
		break;
	}
	case FUSE_FALLOCATE: {
		fuse_fallocate_in a;
		if (arg(p, n, &a))
			l.add(" mode=0x%x off=%llu len=%llu", a.mode,
			      (unsigned long long)a.offset,
			      (unsigned long long)a.length);
		break;
	}
	case FUSE_LSEEK: {
		fuse_lseek_in a;
		if (arg(p, n, &a))
			l.add(" off=%llu whence=%u",
			      (unsigned long long)a.offset, a.whence);
		break;
	}
	case FUSE_COPY_FILE_RANGE: {
		fuse_copy_file_range_in a;
		if (arg(p, n, &a))
			l.add(" off=%llu -> ino=%llu off=%llu len=%llu",
			      (unsigned long long)a.off_in,
			      (unsigned long long)a.nodeid_out,
			      (unsigned long long)a.off_out,
			      (unsigned long long)a.len);
		break;
	}
	case FUSE_FORGET: {
		fuse_forget_in a;
		if (arg(p, n, &a))
			l.add(" nlookup=%llu", (unsigned long long)a.nlookup);
		break;
	}
	case FUSE_BATCH_FORGET: {
		fuse_batch_forget_in a;
		if (arg(p, n, &a))
			l.add(" count=%u", a.count);
		break;
	}
	default:
		break;
	}
}

void emit(const char *cls, const char *text, size_t len)
{
	if (g_syslog.load(std::memory_order_relaxed)) {
		syslog(LOG_DAEMON | LOG_DEBUG, "dbg %s %.*s", cls, int(len),
		       text);
		return;
	}
	char line[600];
	int n = snprintf(line, sizeof(line), "zufuse: dbg %-5s %.*s\n", cls,
			 int(len), text);
	if (n <= 0)
		return;
	size_t w = std::min(size_t(n), sizeof(line) - 1);
	if (line[w - 1] != '\n')
		line[w - 1] = '\n';
	if (write(STDERR_FILENO, line, w) < 0) {
	} // nowhere to report that
}

const char *class_name(uint32_t cls)
{
	static constexpr const char *names[] = { "namei", "attr", "file",
						 "dir",	  "rw",	  "xattr",
						 "misc",  "err" };
	return names[__builtin_ctz(cls)];
}

} // namespace

namespace dbg {

void log_request(uint32_t cls, const fuse_in_header &in, const char *p,
		 size_t n)
{
	Line l{ t_text, sizeof(t_text) };
	describe(l, in, p, n);
	emit(class_name(cls), l.buf, l.len);
}

void note_request(const fuse_in_header &in, const char *p, size_t n)
{
	Line l{ t_text, sizeof(t_text) };
	describe(l, in, p, n);
}

// The reply part of the noted request's line, then the line.
void log_reply(uint32_t cls, uint32_t opcode, const fuse_out_header &out,
	       const iovec *iov, int count, uint64_t bytes, uint64_t dt)
{
	Line l{ t_text, sizeof(t_text), strnlen(t_text, sizeof(t_text)) };
	if (out.error) {
		const char *e = strerrorname_np(-out.error);
		if (e)
			l.add(" -> %s", e);
		else
			l.add(" -> error %d", out.error);
	} else {
		switch (opcode) {
		case FUSE_LOOKUP:
		case FUSE_MKNOD:
		case FUSE_MKDIR:
		case FUSE_SYMLINK:
		case FUSE_LINK:
		case FUSE_CREATE: {
			fuse_entry_out e;
			if (count >= 2 && iov[1].iov_len >= sizeof(e)) {
				std::memcpy(&e, iov[1].iov_base, sizeof(e));
				if (e.nodeid)
					l.add(" -> ino=%llu",
					      (unsigned long long)e.nodeid);
				else
					l.add(" -> no entry");
			}
			break;
		}
		case FUSE_READ:
		case FUSE_WRITE:
		case FUSE_COPY_FILE_RANGE:
			l.add(" -> %llu bytes", (unsigned long long)bytes);
			break;
		default:
			l.add(" -> 0");
			break;
		}
	}
	l.add(" (%.1f us)", double(dt) / 1000.0);
	emit(class_name(cls), l.buf, l.len);
}

} // namespace dbg

// ~~~ debug classes ~~~

std::vector<std::string_view> class_names()
{
	return { "namei", "attr", "file", "dir", "rw", "xattr", "misc", "err" };
}

std::string mask_text(uint32_t mask)
{
	std::string s;
	auto names = class_names();
	for (unsigned i = 0; i < names.size(); ++i) {
		if (!(mask & (1U << i)))
			continue;
		if (!s.empty())
			s += ',';
		s += names[i];
	}
	return s.empty() ? "none" : s;
}

bool parse_mask(std::string_view words, uint32_t *mask, std::string *err)
{
	uint32_t m = *mask;
	auto names = class_names();
	size_t at = 0;
	while (at < words.size()) {
		size_t end = words.find_first_of(" ,\t\n", at);
		if (end == std::string_view::npos)
			end = words.size();
		std::string_view w = words.substr(at, end - at);
		at = end + 1;
		if (w.empty())
			continue;
		char how = '+';
		if (w[0] == '+' || w[0] == '-' || w[0] == '=') {
			how = w[0];
			w.remove_prefix(1);
		}
		uint32_t bits = 0;
		if (w == "all")
			bits = kAll;
		else if (w == "none")
			bits = 0, how = how == '-' ? '+' : '=';
		else if (w ==
			 "vfs") // zuf's zuf_dbg_vfs: everything but rw, xattr
			bits = kNamei | kAttr | kFile | kDir;
		for (unsigned i = 0; !bits && i < names.size(); ++i)
			if (w == names[i])
				bits = 1U << i;
		if (!bits && w != "none") {
			*err = "unknown debug class '" + std::string(w) +
			       "' (classes: " + mask_text(kAll) +
			       ", vfs, all, none)";
			return false;
		}
		if (how == '=')
			m = bits;
		else if (how == '-')
			m &= ~bits;
		else
			m |= bits;
	}
	*mask = m;
	return true;
}

uint32_t debug_mask() { return g_mask.load(std::memory_order_relaxed); }

void set_debug_mask(uint32_t mask)
{
	// A daemonized zufuse has stderr on /dev/null: log to syslog then.
	struct stat st;
	bool devnull = fstat(STDERR_FILENO, &st) == 0 && S_ISCHR(st.st_mode) &&
		       st.st_rdev == makedev(1, 3);
	if (devnull && !g_syslog.load())
		openlog("zufuse", LOG_PID, LOG_DAEMON);
	g_syslog.store(devnull);
	g_mask.store(mask & kAll, std::memory_order_relaxed);
}

const char *debug_sink() { return g_syslog.load() ? "syslog" : "stderr"; }

} // namespace zuf::stats
