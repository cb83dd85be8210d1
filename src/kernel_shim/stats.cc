// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/stats.h"

#include <linux/fuse.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

namespace zuf::stats {

namespace {

// ~~~ per-thread blocks ~~~

// One serving thread's counters. Page-aligned (mmap), so no two threads
// share a cache line; pages of opcodes never seen are never touched.
struct Block {
	Snapshot s;
};

// Every block ever handed out (a block of an exited thread goes to the
// free list and serves the next new thread: its counts keep adding up).
// mu is taken when a thread first counts, when it exits, and by
// snapshots; never per request.
struct Registry {
	std::mutex mu;
	std::vector<Block *> all;
	std::vector<Block *> free;
	Snapshot baseline;
};

Registry &registry()
{
	static Registry r;
	return r;
}

// The shim is linked into executables, never dlopen()ed: the initial-exec
// TLS model makes these plain %fs-relative loads instead of calls to
// __tls_get_addr (the library is built -fPIC).
#define ZUF_TLS_IE __attribute__((tls_model("initial-exec")))

thread_local Block *t_block ZUF_TLS_IE;

struct BlockReturn {
	~BlockReturn()
	{
		if (!t_block)
			return;
		Registry &r = registry();
		std::lock_guard lk(r.mu);
		r.free.push_back(t_block);
		t_block = nullptr;
	}
	bool armed = false;
};
thread_local BlockReturn t_return;

Block *acquire_block()
{
	Registry &r = registry();
	std::lock_guard lk(r.mu);
	Block *b = nullptr;
	if (!r.free.empty()) {
		b = r.free.back();
		r.free.pop_back();
	} else {
		void *p = mmap(nullptr, sizeof(Block), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return nullptr;
		b = static_cast<Block *>(p); // zero pages: all counts 0
		r.all.push_back(b);
	}
	t_block = b;
	t_return.armed = true; // constructs t_return: it hands b back at exit
	return b;
}

inline Block *my_block()
{
	if (__builtin_expect(t_block != nullptr, 1))
		return t_block;
	return acquire_block();
}

// Only the owning thread writes a counter: a relaxed load and store (no
// locked instruction); readers load it relaxed.
inline void add(uint64_t &c, uint64_t d)
{
	std::atomic_ref<uint64_t> a(c);
	a.store(a.load(std::memory_order_relaxed) + d,
		std::memory_order_relaxed);
}
inline uint64_t get(uint64_t &c)
{
	return std::atomic_ref<uint64_t>(c).load(std::memory_order_relaxed);
}

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ULL + uint64_t(ts.tv_nsec);
}

// ~~~ opcodes ~~~

struct OpInfo {
	const char *name;
	uint32_t cls;
};

// Indexed by FUSE opcode (linux/fuse.h); slot 0 collects the rest, and
// slots past the last name are "other" too.
constexpr OpInfo kOps[kOpSlots] = {
	{ "other", kMisc }, // 0
	{ "lookup", kNamei }, // 1
	{ "forget", kNamei }, // 2
	{ "getattr", kAttr }, // 3
	{ "setattr", kAttr }, // 4
	{ "readlink", kAttr }, // 5
	{ "symlink", kNamei }, // 6
	{ nullptr, kMisc }, // 7: unused
	{ "mknod", kNamei }, // 8
	{ "mkdir", kNamei }, // 9
	{ "unlink", kNamei }, // 10
	{ "rmdir", kNamei }, // 11
	{ "rename", kNamei }, // 12
	{ "link", kNamei }, // 13
	{ "open", kFile }, // 14
	{ "read", kRw }, // 15
	{ "write", kRw }, // 16
	{ "statfs", kAttr }, // 17
	{ "release", kFile }, // 18
	{ nullptr, kMisc }, // 19: unused
	{ "fsync", kFile }, // 20
	{ "setxattr", kXattr }, // 21
	{ "getxattr", kXattr }, // 22
	{ "listxattr", kXattr }, // 23
	{ "removexattr", kXattr }, // 24
	{ "flush", kFile }, // 25
	{ "init", kMisc }, // 26
	{ "opendir", kFile }, // 27
	{ "readdir", kDir }, // 28
	{ "releasedir", kFile }, // 29
	{ "fsyncdir", kFile }, // 30
	{ "getlk", kFile }, // 31
	{ "setlk", kFile }, // 32
	{ "setlkw", kFile }, // 33
	{ "access", kAttr }, // 34
	{ "create", kNamei }, // 35
	{ "interrupt", kMisc }, // 36
	{ "bmap", kMisc }, // 37
	{ "destroy", kMisc }, // 38
	{ "ioctl", kMisc }, // 39
	{ "poll", kMisc }, // 40
	{ "notify_reply", kMisc }, // 41
	{ "batch_forget", kNamei }, // 42
	{ "fallocate", kRw }, // 43
	{ "readdirplus", kDir }, // 44
	{ "rename2", kNamei }, // 45
	{ "lseek", kRw }, // 46
	{ "copy_file_range", kRw }, // 47
	{ "setupmapping", kMisc }, // 48
	{ "removemapping", kMisc }, // 49
	{ "syncfs", kMisc }, // 50
	{ "tmpfile", kNamei }, // 51
	{ "statx", kAttr }, // 52
};

constexpr uint32_t kOpForget = 2, kOpInterrupt = 36, kOpBatchForget = 42;

bool no_reply(uint32_t opcode)
{
	return opcode == kOpForget || opcode == kOpBatchForget ||
	       opcode == kOpInterrupt;
}

// ~~~ debug log ~~~

std::atomic<uint32_t> g_mask{ 0 };
std::atomic<bool> g_syslog{ false };

// The request this thread is serving.
struct Pending {
	uint64_t unique; // 0: none
	uint64_t t0;
	uint32_t opcode;
	unsigned slot;
	bool logging;
	char text[400]; // "#unique op ino=.. args" when logging
};
thread_local Pending t_pending ZUF_TLS_IE;

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
	      kOps[slot_of(in.opcode)].name, (unsigned long long)in.nodeid);
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
			l.add(" \"%s\" mode=0%o", name_after(sizeof(a)), a.mode);
		break;
	}
	case FUSE_MKNOD: {
		fuse_mknod_in a;
		if (arg(p, n, &a))
			l.add(" \"%s\" mode=0%o", name_after(sizeof(a)), a.mode);
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
			l.add(" from=%llu \"%s\"", (unsigned long long)a.oldnodeid,
			      name_after(sizeof(a)));
		break;
	}
	case FUSE_RENAME:
	case FUSE_RENAME2: {
		fuse_rename2_in a = {};
		size_t skip = in.opcode == FUSE_RENAME ? sizeof(fuse_rename_in) :
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

// The reply part of a debug line, then the line.
void log_reply(Pending &p, const fuse_out_header &out, const iovec *iov,
	       int count, uint64_t bytes, uint64_t dt)
{
	Line l{ p.text, sizeof(p.text), strnlen(p.text, sizeof(p.text)) };
	if (out.error) {
		const char *e = strerrorname_np(-out.error);
		if (e)
			l.add(" -> %s", e);
		else
			l.add(" -> error %d", out.error);
	} else {
		switch (p.opcode) {
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
	emit(class_name(kOps[p.slot].cls), l.buf, l.len);
}

void subtract(Snapshot *s, const Snapshot &base)
{
	for (unsigned i = 0; i < kOpSlots; ++i) {
		OpCounters &c = s->op[i];
		const OpCounters &b = base.op[i];
		c.count -= b.count;
		c.errors -= b.errors;
		c.bytes -= b.bytes;
		c.sum_ns -= b.sum_ns;
		for (unsigned h = 0; h < kBuckets; ++h)
			c.hist[h] -= b.hist[h];
	}
}

// The sum of every block; registry().mu held.
void sum_locked(Snapshot *out)
{
	std::memset(out, 0, sizeof(*out));
	for (Block *b : registry().all) {
		for (unsigned i = 0; i < kOpSlots; ++i) {
			OpCounters &c = b->s.op[i];
			OpCounters &o = out->op[i];
			if (!get(c.count))
				continue; // pages never touched stay so
			o.count += get(c.count);
			o.errors += get(c.errors);
			o.bytes += get(c.bytes);
			o.sum_ns += get(c.sum_ns);
			for (unsigned h = 0; h < kBuckets; ++h)
				o.hist[h] += get(c.hist[h]);
		}
	}
}

} // namespace

// ~~~ the transport's hooks ~~~

void begin(const void *req, size_t len)
{
	if (len < sizeof(fuse_in_header))
		return;
	const char *p = static_cast<const char *>(req);
	fuse_in_header in;
	std::memcpy(&in, p, sizeof(in));
	Pending &pd = t_pending;
	const unsigned slot = slot_of(in.opcode);
	const uint32_t mask = g_mask.load(std::memory_order_relaxed);
	const bool logging = mask & kOps[slot].cls;

	if (no_reply(in.opcode)) {
		pd.unique = 0;
		if (Block *b = my_block())
			add(b->s.op[slot].count, 1);
		if (logging) {
			Line l{ pd.text, sizeof(pd.text) };
			describe(l, in, p, len);
			emit(class_name(kOps[slot].cls), l.buf, l.len);
		}
		return;
	}
	pd.unique = in.unique;
	pd.opcode = in.opcode;
	pd.slot = slot;
	pd.logging = logging || (mask & kErr);
	if (pd.logging) {
		Line l{ pd.text, sizeof(pd.text) };
		describe(l, in, p, len);
	}
	pd.t0 = now_ns();
}

void end(const iovec *iov, int count)
{
	Pending &p = t_pending;
	if (!p.unique || count < 1 || iov[0].iov_len < sizeof(fuse_out_header))
		return;
	fuse_out_header out;
	std::memcpy(&out, iov[0].iov_base, sizeof(out));
	if (out.unique != p.unique)
		return; // a notification, or a request we did not see come in
	p.unique = 0;
	const uint64_t dt = now_ns() - p.t0;

	uint64_t bytes = 0;
	if (out.error == 0) {
		if (p.opcode == FUSE_READ) {
			if (out.len > sizeof(out))
				bytes = out.len - sizeof(out);
		} else if (p.opcode == FUSE_WRITE ||
			   p.opcode == FUSE_COPY_FILE_RANGE) {
			fuse_write_out w;
			if (count >= 2 && iov[1].iov_len >= sizeof(w)) {
				std::memcpy(&w, iov[1].iov_base, sizeof(w));
				bytes = w.size;
			}
		}
	}
	if (Block *b = my_block()) {
		OpCounters &c = b->s.op[p.slot];
		add(c.count, 1);
		if (out.error)
			add(c.errors, 1);
		if (bytes)
			add(c.bytes, bytes);
		add(c.sum_ns, dt);
		add(c.hist[bucket_of(dt)], 1);
	}
	if (p.logging && (out.error || (g_mask.load(std::memory_order_relaxed) &
					 kOps[p.slot].cls)))
		log_reply(p, out, iov, count, bytes, dt);
}

// ~~~ snapshots ~~~

void snapshot(Snapshot *out)
{
	Registry &r = registry();
	std::lock_guard lk(r.mu);
	sum_locked(out);
	subtract(out, r.baseline);
}

void snapshot_and_reset(Snapshot *out)
{
	Registry &r = registry();
	std::lock_guard lk(r.mu);
	sum_locked(out);
	Snapshot now_sum = *out;
	subtract(out, r.baseline);
	r.baseline = now_sum;
}

double percentile(const uint64_t *hist, uint64_t total, double q)
{
	if (!total)
		return 0;
	const double rank = q * double(total);
	uint64_t seen = 0;
	for (unsigned b = 0; b < kBuckets; ++b) {
		if (!hist[b])
			continue;
		if (double(seen + hist[b]) >= rank) {
			double lo = double(bucket_low(b));
			double hi = double(bucket_low(b + 1));
			double frac = (rank - double(seen)) / double(hist[b]);
			return lo + std::max(0.0, frac) * (hi - lo);
		}
		seen += hist[b];
	}
	return double(bucket_low(kBuckets));
}

unsigned slot_of(uint32_t opcode)
{
	return opcode < kOpSlots && kOps[opcode].name ? opcode : 0;
}

const char *op_name(unsigned slot)
{
	return slot < kOpSlots && kOps[slot].name ? kOps[slot].name : "other";
}

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
		else if (w == "vfs") // zuf's zuf_dbg_vfs: everything but rw, xattr
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

uint32_t debug_mask()
{
	return g_mask.load(std::memory_order_relaxed);
}

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

const char *debug_sink()
{
	return g_syslog.load() ? "syslog" : "stderr";
}

} // namespace zuf::stats
