// SPDX-License-Identifier: BSD-3-Clause
//
// stats.cc - the request counters of stats.h: per-thread blocks, the FUSE
// opcode table, the transport's hooks (begin/end), snapshots and the latency
// histogram. The debug log the hooks write is debug_log.cc.
#include "kernel_shim/stats.h"

#include <linux/fuse.h>
#include <sys/mman.h>
#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <ctime>
#include <mutex>
#include <vector>

#include "kernel_shim/debug_log.h"

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
	{ "other", kMisc },	    // 0
	{ "lookup", kNamei },	    // 1
	{ "forget", kNamei },	    // 2
	{ "getattr", kAttr },	    // 3
	{ "setattr", kAttr },	    // 4
	{ "readlink", kAttr },	    // 5
	{ "symlink", kNamei },	    // 6
	{ nullptr, kMisc },	    // 7: unused
	{ "mknod", kNamei },	    // 8
	{ "mkdir", kNamei },	    // 9
	{ "unlink", kNamei },	    // 10
	{ "rmdir", kNamei },	    // 11
	{ "rename", kNamei },	    // 12
	{ "link", kNamei },	    // 13
	{ "open", kFile },	    // 14
	{ "read", kRw },	    // 15
	{ "write", kRw },	    // 16
	{ "statfs", kAttr },	    // 17
	{ "release", kFile },	    // 18
	{ nullptr, kMisc },	    // 19: unused
	{ "fsync", kFile },	    // 20
	{ "setxattr", kXattr },	    // 21
	{ "getxattr", kXattr },	    // 22
	{ "listxattr", kXattr },    // 23
	{ "removexattr", kXattr },  // 24
	{ "flush", kFile },	    // 25
	{ "init", kMisc },	    // 26
	{ "opendir", kFile },	    // 27
	{ "readdir", kDir },	    // 28
	{ "releasedir", kFile },    // 29
	{ "fsyncdir", kFile },	    // 30
	{ "getlk", kFile },	    // 31
	{ "setlk", kFile },	    // 32
	{ "setlkw", kFile },	    // 33
	{ "access", kAttr },	    // 34
	{ "create", kNamei },	    // 35
	{ "interrupt", kMisc },	    // 36
	{ "bmap", kMisc },	    // 37
	{ "destroy", kMisc },	    // 38
	{ "ioctl", kMisc },	    // 39
	{ "poll", kMisc },	    // 40
	{ "notify_reply", kMisc },  // 41
	{ "batch_forget", kNamei }, // 42
	{ "fallocate", kRw },	    // 43
	{ "readdirplus", kDir },    // 44
	{ "rename2", kNamei },	    // 45
	{ "lseek", kRw },	    // 46
	{ "copy_file_range", kRw }, // 47
	{ "setupmapping", kMisc },  // 48
	{ "removemapping", kMisc }, // 49
	{ "syncfs", kMisc },	    // 50
	{ "tmpfile", kNamei },	    // 51
	{ "statx", kAttr },	    // 52
};

constexpr uint32_t kOpForget = 2, kOpInterrupt = 36, kOpBatchForget = 42;

bool no_reply(uint32_t opcode)
{
	return opcode == kOpForget || opcode == kOpBatchForget ||
	       opcode == kOpInterrupt;
}

// The request this thread is serving.
struct Pending {
	uint64_t unique; // 0: none
	uint64_t t0;
	uint32_t opcode;
	unsigned slot;
	bool logging; // its line is written at end() if its class or err is on
};
thread_local Pending t_pending ZUF_TLS_IE;

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
	const uint32_t mask = debug_mask();
	const bool logging = mask & kOps[slot].cls;

	if (no_reply(in.opcode)) {
		pd.unique = 0;
		if (Block *b = my_block())
			add(b->s.op[slot].count, 1);
		if (logging)
			dbg::log_request(kOps[slot].cls, in, p, len);
		return;
	}
	pd.unique = in.unique;
	pd.opcode = in.opcode;
	pd.slot = slot;
	pd.logging = logging || (mask & kErr);
	if (pd.logging)
		dbg::note_request(in, p, len);
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
	if (p.logging && (out.error || (debug_mask() & kOps[p.slot].cls)))
		dbg::log_reply(kOps[p.slot].cls, p.opcode, out, iov, count,
			       bytes, dt);
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

} // namespace zuf::stats
