// SPDX-License-Identifier: BSD-3-Clause
#include "server/persist.h"

#include <libpmem.h>

#include "server/persist_file.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <vector>

namespace zus {

namespace {

std::atomic<PersistHook> g_hook{ nullptr };

inline void notify(PersistEvent ev, const void *addr, size_t len)
{
	PersistHook h = g_hook.load(std::memory_order_relaxed);
	if (h) [[unlikely]]
		h(ev, addr, len);
}

constexpr uintptr_t kPage = 4096;

// The calling thread's flushed-but-not-drained page ranges (msync mode).
// Fixed size: when it fills up it is drained early, which is always safe
// (durability earlier than asked for never breaks the undo-log protocol).
struct PendingRanges {
	static constexpr int kMax = 32;
	struct Range {
		uintptr_t start, end; // page aligned, [start, end)
	};
	Range r[kMax];
	int n = 0;

	// Merge into the last range when they touch (the common case: a
	// transaction flushes neighbouring bytes), else append.
	bool add(uintptr_t s, uintptr_t e)
	{
		for (int i = n - 1; i >= 0 && i >= n - 4; --i) {
			if (s <= r[i].end && e >= r[i].start) {
				r[i].start = std::min(r[i].start, s);
				r[i].end = std::max(r[i].end, e);
				return true;
			}
		}
		if (n == kMax)
			return false;
		r[n++] = { s, e };
		return true;
	}

	// msync (MS_SYNC) costs a syscall and an fsync of the range whose work
	// is proportional to the dirty pages in it, not to its length, so
	// ranges close to each other (one mapping) go in one call. Other dirty
	// pages inside the span become durable early, which is harmless.
	static constexpr uintptr_t kMaxGap = 64ULL << 20;

	void sync()
	{
		if (!n)
			return;
		std::sort(r, r + n, [](const Range &a, const Range &b) {
			return a.start < b.start;
		});
		uintptr_t s = r[0].start, e = r[0].end;
		for (int i = 1; i < n; ++i) {
			if (r[i].start <= e + kMaxGap) {
				e = std::max(e, r[i].end);
				continue;
			}
			pmem_msync(reinterpret_cast<void *>(s), e - s);
			s = r[i].start;
			e = r[i].end;
		}
		pmem_msync(reinterpret_cast<void *>(s), e - s);
		n = 0;
	}
};

thread_local PendingRanges t_pending;

} // namespace

void set_persist_hook(PersistHook hook) { g_hook.store(hook); }

namespace {
std::mutex g_memory_mu;
std::vector<std::pair<const char *, size_t>> g_memory;
} // namespace

void note_memory_mapping(const void *base, size_t len, bool add)
{
	std::lock_guard g(g_memory_mu);
	const char *b = static_cast<const char *>(base);
	if (add) {
		g_memory.emplace_back(b, len);
		return;
	}
	std::erase_if(g_memory, [&](auto &r) { return r.first == b; });
}

namespace {
bool is_memory_mapping(const void *p)
{
	const char *c = static_cast<const char *>(p);
	std::lock_guard g(g_memory_mu);
	for (auto &[b, n] : g_memory)
		if (c >= b && c < b + n)
			return true;
	return false;
}
} // namespace

void Persist::init(void *base, size_t size)
{
	base_ = base;
	size_ = size;
	file_ = FileImage::find(base);
	memory_ = !file_ && is_memory_mapping(base);
	is_pmem_ = !file_ && !memory_ && pmem_is_pmem(base, size);
}

void Persist::flush(const void *addr, size_t len)
{
	if (!len)
		return;
	notify(PersistEvent::FLUSH, addr, len);
	if (is_pmem_) {
		pmem_flush(addr, len);
		return;
	}
	if (file_) {
		file_->mark(addr, len);
		return;
	}
	if (memory_)
		return;
	uintptr_t s = reinterpret_cast<uintptr_t>(addr) & ~(kPage - 1);
	uintptr_t e = (reinterpret_cast<uintptr_t>(addr) + len + kPage - 1) &
		      ~(kPage - 1);
	if (!t_pending.add(s, e)) {
		t_pending.sync();
		t_pending.add(s, e);
	}
}

void Persist::drain()
{
	notify(PersistEvent::DRAIN, nullptr, 0);
	if (is_pmem_)
		pmem_drain();
	else if (!file_ && !memory_)
		t_pending.sync();
}

int Persist::drain_durable()
{
	drain();
	return file_ ? file_->commit() : 0;
}

void Persist::memcpy_data(void *dst, const void *src, size_t len, DataList *l)
{
	if (!file_) {
		memcpy_nodrain(dst, src, len);
		return;
	}
	memcpy_lazy(dst, src, len);
	char *s = static_cast<char *>(dst), *e = s + len;
	if (l->n && s <= l->r[l->n - 1].end && e >= l->r[l->n - 1].start) {
		l->r[l->n - 1].start = std::min(l->r[l->n - 1].start, s);
		l->r[l->n - 1].end = std::max(l->r[l->n - 1].end, e);
	} else if (l->n < DataList::kMax) {
		l->r[l->n++] = { s, e };
	} else {
		l->overflow = true; // a commit takes them (mark_data)
	}
}

int Persist::sync_data(DataList *l, bool data_only)
{
	int err;
	if (file_ && data_only && !l->overflow && l->n) {
		drain();
		FileImage::Span spans[DataList::kMax];
		for (int i = 0; i < l->n; ++i)
			spans[i] = { l->r[i].start,
				     size_t(l->r[i].end - l->r[i].start) };
		err = file_->write_data(spans, l->n);
	} else {
		err = drain_durable();
	}
	l->n = 0;
	l->overflow = false;
	return err;
}

int Persist::sync_data_all()
{
	if (!file_)
		return sync_all();
	notify(PersistEvent::SYNC_ALL, base_, size_);
	return file_->sync_data();
}

uint64_t Persist::epoch() const { return file_ ? file_->epoch() : 0; }

bool Persist::committed(uint64_t e) const
{
	return !file_ || file_->committed(e);
}

void Persist::flush_lazy(const void *addr, size_t len)
{
	if (is_pmem_)
		flush(addr, len);
	else if (file_)
		file_->mark(addr, len);
}

void Persist::memcpy_nodrain(void *dst, const void *src, size_t len)
{
	notify(PersistEvent::STORE, dst, len);
	if (is_pmem_) {
		pmem_memcpy_nodrain(dst, src, len);
		notify(PersistEvent::FLUSH, dst, len);
		return;
	}
	// msync makes the page cache durable; CPU cache flushes are useless
	// here, but a non-temporal copy still spares the cache. Without a
	// drain (file, memory) nothing fences such stores before another
	// thread reads them (the file back-end's commit): plain stores.
	if (file_ || memory_) {
		memcpy(dst, src, len);
		flush(dst, len);
		return;
	}
	pmem_memcpy(dst, src, len,
		    PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NONTEMPORAL |
			    PMEM_F_MEM_NOFLUSH);
	flush(dst, len);
}

void Persist::memset_nodrain(void *dst, int c, size_t len)
{
	notify(PersistEvent::STORE, dst, len);
	if (is_pmem_) {
		pmem_memset_nodrain(dst, c, len);
		notify(PersistEvent::FLUSH, dst, len);
		return;
	}
	if (file_ || memory_)
		memset(dst, c, len);
	else
		pmem_memset(dst, c, len,
			    PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NOFLUSH);
	flush(dst, len);
}

void Persist::memcpy_lazy(void *dst, const void *src, size_t len)
{
	notify(PersistEvent::STORE, dst, len);
	if (is_pmem_) {
		pmem_memcpy_nodrain(dst, src, len);
		notify(PersistEvent::FLUSH, dst, len);
		return;
	}
	if (file_ ||
	    memory_) { // then marked: a commit that takes it sees the copy
		memcpy(dst, src, len);
		if (file_)
			file_->mark_data(dst, len);
		return;
	}
	pmem_memcpy(dst, src, len,
		    PMEM_F_MEM_NODRAIN | PMEM_F_MEM_NONTEMPORAL |
			    PMEM_F_MEM_NOFLUSH);
}

int Persist::sync_all()
{
	notify(PersistEvent::SYNC_ALL, base_, size_);
	if (is_pmem_) {
		pmem_drain();
		return 0;
	}
	if (file_)
		return file_->commit();
	if (memory_)
		return 0;
	return pmem_msync(base_, size_) ? -EIO : 0;
}

void Persist::set_commit_barrier(std::function<void(bool)> fn)
{
	if (file_)
		file_->set_barrier(std::move(fn));
}

void Persist::track_allocation(const void *bitmap, uint64_t nbits)
{
	if (file_)
		file_->track_allocation(bitmap, nbits);
}

void Persist::start_commit_timer(unsigned interval_ms)
{
	if (file_)
		file_->start_timer(interval_ms);
}

void Persist::stop_commit_timer()
{
	if (file_)
		file_->stop_timer();
}

} // namespace zus
