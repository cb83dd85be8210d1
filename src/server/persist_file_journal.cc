// SPDX-License-Identifier: BSD-3-Clause
//
// persist_file_journal.cc - the file back-end's redo journal (IMAGE.journal),
// kept as jbd2 keeps one: a commit, under pmfs's barrier, sends fresh pages
// and overwritten data straight home and the rest to one checksummed
// transaction, makes it durable, then writes its pages home (the
// checkpoint); data syncs without a commit (write_data, sync_data: an
// O_DSYNC overwrite's or fdatasync's pages home and one fdatasync, unless a
// page is one the journal holds); reading a whole transaction back and
// replaying it (open_rw and open_ro call these). The working copy is
// persist_file.cc's.
#include "server/persist_file.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "server/crc32c.h"
#include "server/persist_file_internal.h"

namespace zus {

using namespace file_backend;

namespace {

constexpr uint64_t kJournalMagic = 0x31304e524a5a5a5aULL; // "ZZZJRN01"
constexpr uint64_t kDescPerPage = kPage / sizeof(uint64_t);
// A commit's home writes: up to 1 MiB each (4 MiB writes held the lanes
// 3-5x longer in alternated cp -a runs at load 12).
constexpr size_t kRunPages = 256;

inline uint64_t now_ns()
{
	return std::chrono::duration_cast<std::chrono::nanoseconds>(
		       std::chrono::steady_clock::now().time_since_epoch())
		.count();
}

// The journal's first page. The transaction: this head, npages page numbers
// (u64, in whole pages), the npages pages; data_crc covers numbers and pages.
struct JournalHead {
	uint64_t magic;
	uint64_t seq;
	uint64_t len; // the image's length
	uint64_t npages;
	uint32_t data_crc;
	uint32_t head_crc; // of this struct with head_crc = 0
};

uint32_t head_crc(JournalHead h)
{
	h.head_crc = 0;
	return crc32c(0, &h, sizeof(h));
}

} // namespace

namespace file_backend {

bool read_journal(int jfd, uint64_t len, std::vector<uint64_t> *pages,
		  uint64_t *seq)
{
	JournalHead h{};
	if (jfd < 0 || !pread_all(jfd, &h, sizeof(h), 0))
		return false;
	const uint64_t npages = round_page(len) / kPage;
	if (h.magic != kJournalMagic || head_crc(h) != h.head_crc ||
	    h.len != len || h.npages == 0 || h.npages > npages)
		return false;
	pages->assign(h.npages, 0);
	const uint64_t desc_pages =
		(h.npages + kDescPerPage - 1) / kDescPerPage;
	if (!pread_all(jfd, pages->data(), h.npages * sizeof(uint64_t), kPage))
		return false;
	uint32_t crc = crc32c(0, pages->data(), h.npages * sizeof(uint64_t));
	std::vector<char> buf(kPage);
	for (uint64_t i = 0; i < h.npages; ++i) {
		if ((*pages)[i] >= npages)
			return false;
		if (!pread_all(jfd, buf.data(), kPage,
			       (1 + desc_pages + i) * kPage))
			return false;
		crc = crc32c(crc, buf.data(), kPage);
	}
	*seq = h.seq;
	return crc == h.data_crc;
}

// Copy the journal's pages to dst: the image file (dst_fd >= 0) or memory.
bool apply_journal(int jfd, const std::vector<uint64_t> &pages, uint64_t len,
		   int dst_fd, char *dst_mem)
{
	const uint64_t desc_pages =
		(pages.size() + kDescPerPage - 1) / kDescPerPage;
	std::vector<char> buf(kPage);
	for (size_t i = 0; i < pages.size(); ++i) {
		if (!pread_all(jfd, buf.data(), kPage,
			       (1 + desc_pages + i) * kPage))
			return false;
		const uint64_t off = pages[i] * kPage;
		const size_t n = std::min<uint64_t>(kPage, len - off);
		if (dst_mem)
			memcpy(dst_mem + off, buf.data(), n);
		else if (!disk_write(dst_fd, 0, buf.data(), n, off))
			return false;
	}
	return true;
}

} // namespace file_backend

int FileImage::commit()
{
	std::lock_guard g(commit_mu_);
	return commit_locked();
}

// Pages sorted by number, their bytes back to back at buf (or, with
// buf == nullptr, in the working copy): runs of neighbours in one write.
bool FileImage::write_home(const uint64_t *pages, size_t n, const char *buf)
{
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && pages[j] == pages[j - 1] + 1 &&
		       j - i < kRunPages)
			++j;
		const uint64_t off = pages[i] * kPage;
		const char *src = buf ? buf + i * kPage : base_ + off;
		if (!disk_write(fd_, 0, src,
				std::min<uint64_t>((j - i) * kPage, len_ - off),
				off))
			return false;
		i = j;
	}
	return true;
}

// Under the barrier a commit writes the pages that go home (pwrite into the
// page cache, from the working copy) and copies the journal's pages into
// the stage; the fdatasyncs run after, while the request threads go on.
// (Staging the home pages too, to let the lanes go sooner, measured worse:
// copying tens of MiB into anonymous memory under the barrier held the
// lanes 2-40x longer than the pwrites, on a loaded machine.)
// The stage: the journal's page numbers (its descriptor pages), then its
// pages; kept between commits.
int FileImage::commit_locked()
{
	if (ro_ || !trailer_)
		return 0;
	if (failed_)
		return -EIO;
	const uint64_t t0 = now_ns();
	if (barrier_)
		barrier_(true);
	// Every change made before this (and marked) is in this commit.
	const uint64_t epoch =
		started_.fetch_add(1, std::memory_order_seq_cst) + 1;
	const uint64_t t1 = now_ns();
	dirty_new_.store(0, std::memory_order_relaxed);
	// A page only overwritten in place (mark_data) and not otherwise
	// changed goes home too: its block had the same owner all along (any
	// block that changes hands is initialized through mark()), so the
	// last committed image sees its file's newer bytes, as an unsynced
	// overwrite may -- unless the journal on disk holds the page: a
	// replay of that transaction would put its older copy back, so the
	// page is journaled again (the new transaction replaces it).
	std::vector<uint64_t> home, journal;
	for (uint64_t w = 0; w < nwords_; ++w) {
		uint64_t v =
			__atomic_exchange_n(&live_[w], 0, __ATOMIC_ACQ_REL);
		uint64_t d = __atomic_exchange_n(&data_live_[w], 0,
						 __ATOMIC_ACQ_REL);
		if (v)
			committing_[w] |= v;
		if (d)
			data_committing_[w] |= d;
		for (uint64_t c = committing_[w] | data_committing_[w]; c;
		     c &= c - 1) {
			const int b = __builtin_ctzll(c);
			const uint64_t p = w * 64 + b;
			const bool data_only = !(
				(committing_[w] | journaled_[w]) & (1ULL << b));
			const bool fresh = p && p < alloc_bits_ &&
					   !(committed_alloc_[p / 64] &
					     (1ULL << (p % 64)));
			(data_only || fresh ? home : journal).push_back(p);
		}
	}
	std::vector<uint64_t> next_alloc(committed_alloc_.size());
	if (alloc_)
		memcpy(next_alloc.data(), alloc_, next_alloc.size() * 8);
	const uint64_t desc_pages =
		(journal.size() + kDescPerPage - 1) / kDescPerPage;
	const size_t need = (desc_pages + journal.size()) * kPage;
	if (stage_.size() < need)
		stage_.resize(need);
	char *const desc = stage_.data();
	char *const jbuf = desc + desc_pages * kPage;
	// Staged: the crc must cover exactly the bytes written, and a page may
	// change under us (an overwrite outside any transaction).
	for (size_t k = 0; k < journal.size(); ++k)
		memcpy(jbuf + k * kPage, base_ + journal[k] * kPage, kPage);
	bool ok = true;
	if (!home.empty() || !journal.empty())
		__atomic_store_n(&trailer_->mtime_valid, 0, __ATOMIC_RELEASE);
	ok = write_home(home.data(), home.size(), nullptr);
	if (barrier_)
		barrier_(false);
	const uint64_t t2 = now_ns();
	stats_.wait_ns += t1 - t0;
	stats_.held_ns += t2 - t1;
	stats_.max_held_ns = std::max(stats_.max_held_ns, t2 - t1);
	if (home.empty() && journal.empty()) {
		durable_.store(epoch, std::memory_order_release);
		disk_committed();
		return 0;
	}

	// Fresh pages (and the last checkpoint) on disk before the transaction
	// that refers to them (or overwrites the journal the checkpoint came
	// from) can be replayed; then the transaction.
	++seq_;
	if (ok && (!home.empty() || ckpt_unsynced_)) {
		ok = disk_sync(fd_, 0);
		ckpt_unsynced_ = ckpt_unsynced_ && !ok;
	}
	if (ok && !journal.empty()) {
		memset(desc, 0, desc_pages * kPage);
		memcpy(desc, journal.data(), journal.size() * sizeof(uint64_t));
		JournalHead h{};
		h.magic = kJournalMagic;
		h.seq = seq_;
		h.len = len_;
		h.npages = journal.size();
		h.data_crc = crc32c(
			crc32c(0, desc, journal.size() * sizeof(uint64_t)),
			jbuf, journal.size() * kPage);
		h.head_crc = head_crc(h);
		std::vector<char> head(kPage);
		memcpy(head.data(), &h, sizeof(h));
		ok = disk_write(jfd_, 1, desc,
				(desc_pages + journal.size()) * kPage, kPage) &&
		     disk_write(jfd_, 1, head.data(), kPage, 0) &&
		     disk_sync(jfd_, 1);
	}
	if (!ok) {
		// The disk failed us: nothing may be acknowledged from now on.
		fprintf(stderr,
			"zufuse: image %s: commit failed (%s): the image keeps its last commit\n",
			path_.c_str(), strerror(errno));
		failed_ = true;
		return -EIO;
	}
	// Durable.
	if (!journal.empty()) { // the transaction a replay now writes
		std::fill(journaled_.begin(), journaled_.end(), 0);
		for (uint64_t p : journal)
			journaled_[p / 64] |= 1ULL << (p % 64);
	}
	durable_.store(epoch, std::memory_order_release);
	disk_committed();
	committed_alloc_.swap(next_alloc);
	memset(committing_, 0, nwords_ * 8);
	memset(data_committing_, 0, nwords_ * 8);
	trailer_->seq = seq_;
	++stats_.commits;
	stats_.home += home.size();
	stats_.journaled += journal.size();
	const uint64_t t3 = now_ns();
	stats_.sync_ns += t3 - t2;
	checkpoint(journal, jbuf);
	stats_.ckpt_ns += now_ns() - t3;
	return 0;
}

// A page that a write_data() must leave to a commit: marked by mark() (its
// block changed hands, or holds metadata), taken by a commit not yet
// durable, or in the journal's transaction on disk. Under commit_mu_.
bool FileImage::named_elsewhere(uint64_t p) const
{
	if (p >= npages_)
		return true;
	const uint64_t bit = 1ULL << (p % 64), w = p / 64;
	return ((__atomic_load_n(&live_[w], __ATOMIC_ACQUIRE) | committing_[w] |
		 journaled_[w]) &
		bit) != 0;
}

void FileImage::data_failed()
{
	fprintf(stderr,
		"zufuse: image %s: a data write failed (%s): the image keeps its last commit\n",
		path_.c_str(), strerror(errno));
	failed_ = true;
}

// The pages go home from the working copy under the commit lock (no
// commit's journal can change meanwhile); the fdatasync runs without it,
// so that O_DSYNC writers of several threads share flushes and a commit
// need not wait. Their dirty marks go only once they are durable (a
// kill -9 before that leaves them for the next commit).
int FileImage::write_data(const Span *spans, size_t n)
{
	if (ro_ || !trailer_ || !n)
		return 0;
	auto pages_of = [&](const Span &s, uint64_t *first, uint64_t *last) {
		const uint64_t off = static_cast<const char *>(s.addr) - base_;
		*first = off / kPage;
		*last = (off + std::max<size_t>(s.len, 1) - 1) / kPage;
		return off < len_ && s.len;
	};
	std::unique_lock lk(commit_mu_);
	if (failed_)
		return -EIO;
	for (size_t i = 0; i < n; ++i) {
		uint64_t first, last;
		bool named = !pages_of(spans[i], &first, &last);
		for (uint64_t p = first; !named && p <= last; ++p)
			named = named_elsewhere(p);
		if (named) {
			data_commits_.fetch_add(1, std::memory_order_relaxed);
			return commit_locked();
		}
	}
	__atomic_store_n(&trailer_->mtime_valid, 0, __ATOMIC_RELEASE);
	bool ok = true;
	uint64_t written = 0;
	for (size_t i = 0; i < n && ok; ++i) {
		uint64_t first, last;
		pages_of(spans[i], &first, &last);
		const uint64_t off = first * kPage;
		ok = disk_write(fd_, 0, base_ + off,
				std::min<uint64_t>((last - first + 1) * kPage,
						   len_ - off),
				off);
		written += last - first + 1;
	}
	note_image_written();
	lk.unlock();
	if (!ok || !disk_sync(fd_, 0)) {
		data_failed();
		return -EIO;
	}
	for (size_t i = 0; i < n; ++i) {
		uint64_t first, last;
		pages_of(spans[i], &first, &last);
		for (uint64_t p = first; p <= last; ++p)
			__atomic_fetch_and(&data_live_[p / 64],
					   ~(1ULL << (p % 64)),
					   __ATOMIC_RELEASE);
	}
	data_syncs_.fetch_add(1, std::memory_order_relaxed);
	data_written_.fetch_add(written, std::memory_order_relaxed);
	return 0;
}

// Under the barrier (no transaction runs, so no block changes hands while
// its page is written home): the marks move to data_committing_ (in the
// working copy: a kill -9 leaves them to the next commit), then, if none
// of those pages is named elsewhere, they go home and one fdatasync.
int FileImage::sync_data()
{
	if (ro_ || !trailer_)
		return 0;
	std::lock_guard g(commit_mu_);
	if (failed_)
		return -EIO;
	if (barrier_)
		barrier_(true);
	bool named = false;
	data_pages_.clear();
	for (uint64_t w = 0; w < nwords_; ++w) {
		if (uint64_t d = __atomic_exchange_n(&data_live_[w], 0,
						     __ATOMIC_ACQ_REL))
			data_committing_[w] |= d;
		const uint64_t d = data_committing_[w];
		if (!d)
			continue;
		named = named ||
			(d & (__atomic_load_n(&live_[w], __ATOMIC_ACQUIRE) |
			      committing_[w] | journaled_[w]));
		for (uint64_t c = d; c && !named; c &= c - 1)
			data_pages_.push_back(w * 64 + __builtin_ctzll(c));
	}
	if (named) {
		if (barrier_)
			barrier_(false);
		data_commits_.fetch_add(1, std::memory_order_relaxed);
		return commit_locked();
	}
	bool ok = true;
	if (!data_pages_.empty()) {
		__atomic_store_n(&trailer_->mtime_valid, 0, __ATOMIC_RELEASE);
		ok = write_home(data_pages_.data(), data_pages_.size(),
				nullptr);
	}
	if (barrier_)
		barrier_(false);
	if (data_pages_.empty())
		return 0;
	note_image_written();
	if (!ok || !disk_sync(fd_, 0)) {
		data_failed();
		return -EIO;
	}
	memset(data_committing_, 0, nwords_ * 8); // no commit ran meanwhile
	data_syncs_.fetch_add(1, std::memory_order_relaxed);
	data_written_.fetch_add(data_pages_.size(), std::memory_order_relaxed);
	return 0;
}

// The journal's pages home (from the stage), durable by the next commit's
// first fdatasync of the image, before that commit overwrites the journal:
// until then the journal still holds them (a crash replays them again).
void FileImage::checkpoint(const std::vector<uint64_t> &pages, const char *buf)
{
	if (!pages.empty()) {
		if (!write_home(pages.data(), pages.size(), buf)) {
			fprintf(stderr,
				"zufuse: image %s: checkpoint failed (%s)\n",
				path_.c_str(), strerror(errno));
			failed_ = true;
			return;
		}
		ckpt_unsynced_ = true;
	}
	note_image_written();
}

} // namespace zus
