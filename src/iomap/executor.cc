// SPDX-License-Identifier: BSD-3-Clause
//
// executor.cc - check, then execute, an iomap the server answered (zuf's
// _iom_execute_inline / zuf_iom_execute_sync / _ioc_bounds_check).
//
// Every iomap is walked twice over a private copy: the first walk checks
// every entry and has no side effect; only if it passes does a second walk
// collect the work. Nothing the server wrote is read after the copy.
#include "iomap/executor.h"

#include <atomic>
#include <bitset>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <vector>

#include "fault/guard.h"
#include "zufs/iom_enc.h"
#include "iomap/t2.h"

namespace iomap {

namespace {

constexpr uint64_t kPage = PAGE_SIZE;
constexpr uint32_t kMaxUnmaps = kMaxIomEntries / (sizeof(zufs_iom_unmap) / 8);

thread_local char t_last_refusal[256];

// One line on stderr per refused iomap, at most a few per second.
void log_refused(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_refused(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t_last_refusal, sizeof(t_last_refusal), fmt, ap);
	va_end(ap);

	static std::atomic<int64_t> window{ 0 };
	static std::atomic<int> lines{ 0 };
	constexpr int kLinesPerSecond = 10;

	int64_t now =
		std::chrono::duration_cast<std::chrono::seconds>(
			std::chrono::steady_clock::now().time_since_epoch())
			.count();
	int64_t w = window.load(std::memory_order_relaxed);
	if (w != now && window.compare_exchange_strong(w, now))
		lines.store(0, std::memory_order_relaxed);
	if (lines.fetch_add(1, std::memory_order_relaxed) >= kLinesPerSecond)
		return;
	fprintf(stderr, "zufuse: iomap refused (-EIO): %s\n", t_last_refusal);
}

// [off, off + len) inside [0, size), without overflow.
bool range_in(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

bool page_aligned(uint64_t v) { return (v & (kPage - 1)) == 0; }

// What the check walk found, needed by the execution walk.
struct Verdict {
	uint64_t t2_pages = 0;
	uint64_t t1_pages = 0;
	uint32_t unmaps = 0;
	std::bitset<kMaxUnmaps> unmap_known; // else: unknown inode, no-op
};

// The work an iomap turns into, gathered by the execution walk.
struct Work {
	std::vector<T2Page> t2;
	struct T1Copy {
		char *block; // nullptr: a hole (read as zeros)
		void *app;
		bool to_block;
	};
	std::vector<T1Copy> t1;
	struct Unmap {
		uint64_t ino, index, n;
	};
	std::vector<Unmap> unmaps;
};

int run_t1(std::span<const Work::T1Copy> t1);

// Walks an iomap copy. check() only checks (and fills the verdict); the
// later walks trust the verdict of that check and gather or do the work.
class Walker {
  public:
	enum Phase {
		kCheck,
		kCollectAll,	 // T2 pages, T1 copies, unmaps into Work
		kCollectT2,	 // T2 pages into Work
		kRunT1AndUnmaps, // T1 copies and unmaps, now
		kRunUnmaps,	 // unmaps only, now
	};

	Walker(std::span<const uint64_t> iom, const ExecEnv &env)
	    : iom_(iom), env_(env)
	{
	}

	int check(Verdict *v)
	{
		v_ = v;
		phase_ = kCheck;
		return walk();
	}

	void collect(Verdict *v, Work *work, Phase phase)
	{
		v_ = v;
		work_ = work;
		phase_ = phase;
		unmap_i_ = 0;
		t1_i_ = 0;
		walk();
	}

  private:
	int walk()
	{
		size_t i = 0;
		while (i < iom_.size()) {
			const uint64_t *e = &iom_[i];
			unsigned type = unsigned(e[0] >> ZUFS_IOM_VAL_BITS);
			if (type == IOM_NONE)
				return 0;
			if (type >= IOM_NUM_LEGAL_OPT)
				return refuse(i, "unknown op type %u", type);
			uint32_t size = zufs::iom_op_size(type);
			if (size > iom_.size() - i)
				return refuse(i,
					      "op type %u (%u u64s) "
					      "overruns iom_n %zu",
					      type, size, iom_.size());
			int err = one(i, type, e);
			if (err)
				return err;
			i += size;
		}
		return 0;
	}

	int one(size_t i, unsigned type, const uint64_t *e)
	{
		uint64_t first = e[0] & ZUFS_IOM_FIRST_VAL_MASK;
		switch (type) {
		case IOM_T1_WRITE:
		case IOM_T1_READ:
			return t1(i, type == IOM_T1_WRITE, first);
		case IOM_T2_WRITE:
		case IOM_T2_READ:
			return t2_dpp(i, type == IOM_T2_WRITE, first, e[1], 1);
		case IOM_T2_WRITE_LEN:
		case IOM_T2_READ_LEN:
			return t2_dpp(i, type == IOM_T2_WRITE_LEN, first, e[1],
				      e[2]);
		case IOM_T2_ZUSMEM_WRITE:
		case IOM_T2_ZUSMEM_READ:
			return t2_zusmem(i, type == IOM_T2_ZUSMEM_WRITE, first,
					 e[1], e[2]);
		case IOM_UNMAP:
			return unmap(i, first, e[1], e[2]);
		}
		return refuse(i, "unknown op type %u", type);
	}

	// A zu_dpp_t naming n pages in pool 0..6: their address or nullptr.
	char *pool_pages(zu_dpp_t t1, uint64_t n)
	{
		unsigned pool = zu_dpp_t_pool(t1);
		uint64_t off = zu_dpp_t_val(t1);
		if (pool >= env_.pools.size() || pool == ZUFS_APP_POOL)
			return nullptr;
		const zufs_pool_info &p = env_.pools[pool];
		if (!p.base || !p.size || !page_aligned(off) ||
		    n > p.size / kPage || !range_in(off, n * kPage, p.size))
			return nullptr;
		return reinterpret_cast<char *>(p.base) + off;
	}

	// App page idx, if it exists and is a page.
	void *app_page(uint64_t idx)
	{
		if (idx >= env_.app_pages.size())
			return nullptr;
		void *p = env_.app_pages[idx];
		if (!p || !page_aligned(reinterpret_cast<uintptr_t>(p)))
			return nullptr;
		return p;
	}

	int add_pages(size_t i, uint64_t *counter, uint64_t n)
	{
		if (n == 0)
			return refuse(i, "zero-length op");
		if (n > kMaxIomPages ||
		    v_->t2_pages + v_->t1_pages + n > kMaxIomPages)
			return refuse(i, "more than %" PRIu64 " pages",
				      kMaxIomPages);
		*counter += n;
		return 0;
	}

	int t2_range(size_t i, uint64_t bn, uint64_t n)
	{
		if (!env_.t2)
			return refuse(i, "T2 op but no T2 device");
		if (!range_in(bn, n, env_.t2->size_blocks()))
			return refuse(i,
				      "T2 blocks %" PRIu64 "+%" PRIu64
				      " outside the device (%" PRIu64 ")",
				      bn, n, env_.t2->size_blocks());
		return 0;
	}

	bool checking() const { return phase_ == kCheck; }
	bool collecting_t2() const
	{
		return phase_ == kCollectAll || phase_ == kCollectT2;
	}

	void push_t2(uint64_t bn, void *mem, bool write)
	{
		work_->t2.push_back({ bn, mem, write });
	}

	int t2_dpp(size_t i, bool write, uint64_t bn, zu_dpp_t t1, uint64_t n)
	{
		if (checking()) {
			int err = add_pages(i, &v_->t2_pages, n);
			if (!err)
				err = t2_range(i, bn, n);
			if (!err)
				err = check_t2_memory(i, t1, n);
			return err;
		}
		if (!collecting_t2())
			return 0;
		if (zu_dpp_t_pool(t1) == ZUFS_APP_POOL) {
			uint64_t first = zu_dpp_t_bn(t1);
			for (uint64_t k = 0; k < n; k++)
				push_t2(bn + k, app_page(first + k), write);
			return 0;
		}
		char *mem = pool_pages(t1, n);
		for (uint64_t k = 0; k < n; k++)
			push_t2(bn + k, mem + k * kPage, write);
		return 0;
	}

	int check_t2_memory(size_t i, zu_dpp_t t1, uint64_t n)
	{
		if (zu_dpp_t_pool(t1) != ZUFS_APP_POOL) {
			if (pool_pages(t1, n))
				return 0;
			return refuse(i,
				      "t1 0x%" PRIx64 " (+%" PRIu64
				      " pages) outside its pool",
				      uint64_t(t1), n);
		}
		uint64_t first = zu_dpp_t_bn(t1);
		if (!range_in(first, n, env_.app_pages.size()))
			return refuse(i,
				      "app pages %" PRIu64 "+%" PRIu64
				      " outside the request (%zu pages)",
				      first, n, env_.app_pages.size());
		for (uint64_t k = 0; k < n; k++)
			if (!app_page(first + k))
				return refuse(
					i, "app page %" PRIu64 " is not a page",
					first + k);
		return 0;
	}

	int t2_zusmem(size_t i, bool write, uint64_t bn, uint64_t ptr,
		      uint64_t len)
	{
		uint64_t n = len / kPage + (len % kPage != 0);
		if (checking()) {
			int err = add_pages(i, &v_->t2_pages, n);
			if (!err)
				err = t2_range(i, bn, n);
			if (err)
				return err;
			if (!page_aligned(ptr) || !zusmem_in_pool(ptr, n))
				return refuse(i,
					      "zusmem 0x%" PRIx64 "+0x%" PRIx64
					      " outside registered memory",
					      ptr, len);
			return 0;
		}
		if (!collecting_t2())
			return 0;
		char *mem = reinterpret_cast<char *>(uintptr_t(ptr));
		for (uint64_t k = 0; k < n; k++)
			push_t2(bn + k, mem + k * kPage, write);
		return 0;
	}

	bool zusmem_in_pool(uint64_t ptr, uint64_t n)
	{
		for (const zufs_pool_info &p : env_.pools) {
			if (!p.base || !p.size || ptr < p.base)
				continue;
			if (n <= p.size / kPage &&
			    range_in(ptr - p.base, n * kPage, p.size))
				return true;
		}
		return false;
	}

	// The block of a T1 op, or nullptr (a hole when t1 == 0).
	char *t1_block(zu_dpp_t t1)
	{
		if (t1 == 0 || zu_dpp_t_bn(t1) >= (UINT64_MAX >> PAGE_SHIFT))
			return nullptr;
		return pool_pages(zu_enc_dpp_t(zu_dpp_t_bn(t1) << PAGE_SHIFT,
					       zu_dpp_t_pool(t1)),
				  1);
	}

	int t1(size_t i, bool write, zu_dpp_t t1)
	{
		if (checking()) {
			uint64_t k = v_->t1_pages;
			int err = add_pages(i, &v_->t1_pages, 1);
			if (err)
				return err;
			if (!app_page(k))
				return refuse(i,
					      "T1 op #%" PRIu64
					      " has no request page (%zu)",
					      k, env_.app_pages.size());
			if (t1 == 0 && write)
				return refuse(i, "T1 write to a hole");
			if (t1 != 0 && !t1_block(t1))
				return refuse(
					i, "t1 0x%" PRIx64 " outside its pool",
					uint64_t(t1));
			return 0;
		}
		Work::T1Copy c{ t1_block(t1), app_page(t1_i_++), write };
		if (phase_ == kCollectAll)
			work_->t1.push_back(c);
		else if (phase_ == kRunT1AndUnmaps)
			return run_t1({ &c, 1 });
		return 0;
	}

	int unmap(size_t i, uint64_t index, uint64_t n, uint64_t ino)
	{
		if (!ino)
			ino = env_.ino;
		if (!checking()) {
			if (!v_->unmap_known[unmap_i_++])
				return 0;
			if (phase_ == kCollectAll)
				work_->unmaps.push_back({ ino, index, n });
			else if (phase_ != kCollectT2)
				env_.unmapper->unmap(ino, index, n);
			return 0;
		}
		uint32_t slot = v_->unmaps++;
		if (!env_.unmapper)
			return refuse(i, "unmap but no unmapper");
		if (!ino)
			return refuse(i, "unmap of ino 0 without a request "
					 "inode");
		uint64_t i_size;
		if (!env_.unmapper->inode_size(ino, &i_size))
			return 0; // not cached: nothing mapped
		uint64_t eof = i_size / kPage + (i_size % kPage != 0);
		bool ok = n ? range_in(index, n, eof) : index <= eof;
		if (!ok)
			return refuse(i,
				      "unmap [%" PRIu64 ", +%" PRIu64
				      ") of ino %" PRIu64
				      " past EOF page %" PRIu64,
				      index, n, ino, eof);
		v_->unmap_known[slot] = true;
		return 0;
	}

	int refuse(size_t i, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)))
	{
		char what[200];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(what, sizeof(what), fmt, ap);
		va_end(ap);
		log_refused("ino %" PRIu64 " iom_e[%zu]: %s", env_.ino, i,
			    what);
		return -EIO;
	}

	std::span<const uint64_t> iom_;
	const ExecEnv &env_;
	Verdict *v_ = nullptr;
	Work *work_ = nullptr;
	Phase phase_ = kCheck;
	uint32_t unmap_i_ = 0;
	uint64_t t1_i_ = 0;
};

// The copy every check runs on: a server thread may still be writing iom_e.
int copy_iomap(const uint64_t *iom_e, uint32_t iom_n, uint64_t *copy,
	       const ExecEnv &env)
{
	if (iom_n > kMaxIomEntries) {
		log_refused("ino %" PRIu64 ": iom_n %u > max %u", env.ino,
			    iom_n, kMaxIomEntries);
		return -EIO;
	}
	if (iom_n && !iom_e) {
		log_refused("ino %" PRIu64 ": iom_n %u without entries",
			    env.ino, iom_n);
		return -EIO;
	}
	if (iom_n)
		memcpy(copy, iom_e, iom_n * sizeof(uint64_t));
	return 0;
}

// A media fault in a pmem block (fault/guard.h) fails the request: -EIO.
int run_t1(std::span<const Work::T1Copy> t1)
{
	for (const Work::T1Copy &c : t1) {
		if (!c.block) {
			memset(c.app, 0, kPage);
			continue;
		}
		const auto a = c.to_block ? zufs::fault::Access::kWrite :
					    zufs::fault::Access::kRead;
		if (int err = zufs::fault::guarded(
			    a, c.block, kPage, "T1 copy of an iomap", [&] {
				    if (c.to_block)
					    memcpy(c.block, c.app, kPage);
				    else
					    memcpy(c.app, c.block, kPage);
			    }))
			return err;
	}
	return 0;
}

void run_unmaps(const std::vector<Work::Unmap> &unmaps, Unmapper *u)
{
	for (const Work::Unmap &m : unmaps)
		u->unmap(m.ino, m.index, m.n);
}

} // namespace

const char *last_refusal() { return t_last_refusal; }

int validate(const uint64_t *iom_e, uint32_t iom_n, const ExecEnv &env)
{
	uint64_t copy[kMaxIomEntries];
	int err = copy_iomap(iom_e, iom_n, copy, env);
	if (err)
		return err;
	Verdict v;
	return Walker({ copy, iom_n }, env).check(&v);
}

static int execute_checked(const uint64_t *iom_e, uint32_t iom_n,
			   const ExecEnv &env)
{
	uint64_t copy[kMaxIomEntries];
	int err = copy_iomap(iom_e, iom_n, copy, env);
	if (err)
		return err;

	Verdict v;
	Walker walker({ copy, iom_n }, env);
	err = walker.check(&v);
	if (err)
		return err;
	if (!v.t2_pages && !v.t1_pages && !v.unmaps)
		return 0;

	int r = 0;
	if (v.t2_pages) {
		Work work;
		work.t2.reserve(v.t2_pages);
		walker.collect(&v, &work, Walker::kCollectT2);
		r = env.t2->rw(work.t2);
	}
	// T1 copies and unmaps straight from the copy: the hot case (a
	// write answering with an unmap) allocates nothing.
	walker.collect(&v, nullptr,
		       r ? Walker::kRunUnmaps : Walker::kRunT1AndUnmaps);
	return r;
}

static int execute_async_checked(const uint64_t *iom_e, uint32_t iom_n,
				 const ExecEnv &env, ExecDone &done)
{
	if (!env.t2) {
		log_refused("ino %" PRIu64 ": async iomap without a T2 device",
			    env.ino);
		return -EIO;
	}
	uint64_t copy[kMaxIomEntries];
	int err = copy_iomap(iom_e, iom_n, copy, env);
	if (err)
		return err;

	Verdict v;
	Walker walker({ copy, iom_n }, env);
	err = walker.check(&v);
	if (err)
		return err;

	auto work = std::make_shared<Work>();
	work->t2.reserve(v.t2_pages);
	work->t1.reserve(v.t1_pages);
	work->unmaps.reserve(v.unmaps);
	walker.collect(&v, work.get(), Walker::kCollectAll);
	std::vector<T2Page> t2 = std::move(work->t2);
	Unmapper *unmapper = env.unmapper;
	return env.t2->rw_async(
		std::move(t2), [work, unmapper, done = std::move(done)](int r) {
			if (!r)
				r = run_t1(work->t1);
			if (!work->unmaps.empty())
				run_unmaps(work->unmaps, unmapper);
			done(r);
		});
}

// Errors are values: nothing thrown (an allocation failing) leaves here.
int execute(const uint64_t *iom_e, uint32_t iom_n, const ExecEnv &env)
{
	try {
		return execute_checked(iom_e, iom_n, env);
	} catch (const std::exception &) {
		return -ENOMEM;
	}
}

int execute_async(const uint64_t *iom_e, uint32_t iom_n, const ExecEnv &env,
		  ExecDone done)
{
	try {
		return execute_async_checked(iom_e, iom_n, env, done);
	} catch (const std::exception &) {
		return -ENOMEM;
	}
}

} // namespace iomap
