// SPDX-License-Identifier: BSD-3-Clause
//
// persist_file.cc - the file back-end's working copy (persist_file.h): the
// shadow in /dev/shm built from the image or taken over after a kill -9,
// the dirty bitmaps, the commit timer, and the disk I/O the crash harness
// sees. The redo journal and the commit are persist_file_journal.cc's.
#include "server/persist_file.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "server/persist_file_internal.h"

namespace zus {

using namespace file_backend;

namespace {

constexpr uint64_t kShadowMagic = 0x31574441485a5a5aULL; // "ZZZHADW1"
// Kick a commit when this many pages became dirty since the last one
// (bounds the journal and the pause of the barrier).
constexpr uint64_t kKickPages = 16384; // 64 MiB
constexpr size_t kChunk = 1 << 20;

std::atomic<DiskHook> g_disk_hook{ nullptr };

std::mutex g_registry_mu;
std::vector<FileImage *> g_registry;

std::string hex(uint64_t v)
{
	char b[32];
	snprintf(b, sizeof(b), "%llx", static_cast<unsigned long long>(v));
	return b;
}

} // namespace

namespace file_backend {

bool pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
	const char *p = static_cast<const char *>(buf);
	while (n) {
		ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= w;
		off += w;
	}
	return true;
}

bool pread_all(int fd, void *buf, size_t n, uint64_t off)
{
	char *p = static_cast<char *>(buf);
	while (n) {
		ssize_t r = ::pread(fd, p, n, static_cast<off_t>(off));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return false;
		if (r == 0) { // past the end: zeros
			memset(p, 0, n);
			return true;
		}
		p += r;
		n -= r;
		off += r;
	}
	return true;
}

bool disk_write(int fd, int which, const void *buf, size_t n, uint64_t off)
{
	if (DiskHook h = g_disk_hook.load(std::memory_order_relaxed))
		[[unlikely]]
		h(DiskEvent::WRITE, which, off, buf, n);
	return pwrite_all(fd, buf, n, off);
}

bool disk_sync(int fd, int which)
{
	if (DiskHook h = g_disk_hook.load(std::memory_order_relaxed))
		[[unlikely]]
		h(DiskEvent::SYNC, which, 0, nullptr, 0);
	return fdatasync(fd) == 0;
}

void disk_committed()
{
	if (DiskHook h = g_disk_hook.load(std::memory_order_relaxed))
		[[unlikely]]
		h(DiskEvent::COMMIT, -1, 0, nullptr, 0);
}

} // namespace file_backend

void set_disk_hook(DiskHook hook) { g_disk_hook.store(hook); }

bool FileImage::wanted(int fd)
{
	if (const char *e = getenv("ZUFUSE_FILE_BACKEND"); e && !strcmp(e, "0"))
		return false;
	struct stat st;
	struct statfs sf;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || fstatfs(fd, &sf))
		return false;
	return sf.f_type != TMPFS_MAGIC && sf.f_type != RAMFS_MAGIC;
}

int FileImage::open(int fd, const std::string &path, size_t len, bool ro,
		    std::unique_ptr<FileImage> *out, std::string *err)
{
	std::unique_ptr<FileImage> f(new FileImage());
	struct stat st;
	if (fstat(fd, &st)) {
		*err = std::string("fstat: ") + strerror(errno);
		return -errno;
	}
	f->path_ = path;
	f->ro_ = ro;
	f->dev_ = st.st_dev;
	f->ino_ = st.st_ino;
	f->len_ = len;
	f->npages_ = round_page(len) / kPage;
	f->nwords_ = (f->npages_ + 63) / 64;
	f->journaled_.assign(f->nwords_, 0); // open() replays and resets it
	f->shadow_path_ = "/dev/shm/zufuse-shadow." + hex(st.st_dev) + "." +
			  hex(st.st_ino);
	f->journal_path_ = path + ".journal";
	f->fd_ = dup(fd);
	if (f->fd_ < 0) {
		*err = std::string("dup: ") + strerror(errno);
		return -errno;
	}
	int e = ro ? f->open_ro(err) : f->open_rw(err);
	if (e)
		return e;
	{
		std::lock_guard g(g_registry_mu);
		g_registry.push_back(f.get());
	}
	*out = std::move(f);
	return 0;
}

FileImage *FileImage::find(const void *addr)
{
	const char *p = static_cast<const char *>(addr);
	std::lock_guard g(g_registry_mu);
	for (FileImage *f : g_registry)
		if (p >= f->base_ && p < f->base_ + f->len_)
			return f;
	return nullptr;
}

void FileImage::set_bitmaps(uint64_t toff, uint64_t bm)
{
	trailer_ = reinterpret_cast<Trailer *>(base_ + toff);
	live_ = reinterpret_cast<uint64_t *>(base_ + toff + kPage);
	committing_ = reinterpret_cast<uint64_t *>(base_ + toff + kPage + bm);
	data_live_ =
		reinterpret_cast<uint64_t *>(base_ + toff + kPage + 2 * bm);
	data_committing_ =
		reinterpret_cast<uint64_t *>(base_ + toff + kPage + 3 * bm);
}

// Take over the shadow of a zufuse that ended without unmounting: it must be
// this image's (device, inode, length) and the image must not have been
// written since that zufuse last wrote it (its mtime).
bool FileImage::adopt_shadow()
{
	int sfd = ::open(shadow_path_.c_str(), O_RDWR | O_CLOEXEC);
	if (sfd < 0)
		return false;
	struct stat st, ist;
	const uint64_t toff = round_page(len_);
	const uint64_t bm = round_page(nwords_ * 8);
	map_len_ = toff + kPage + 4 * bm;
	Trailer t{};
	bool ok = !fstat(sfd, &st) && uint64_t(st.st_size) == map_len_ &&
		  pread_all(sfd, &t, sizeof(t), toff) &&
		  t.magic == kShadowMagic && t.dev == uint64_t(dev_) &&
		  t.ino == uint64_t(ino_) && t.len == len_ &&
		  !fstat(fd_, &ist) &&
		  (!t.mtime_valid || (t.mtime_s == ist.st_mtim.tv_sec &&
				      t.mtime_ns == ist.st_mtim.tv_nsec));
	if (ok) {
		void *m = mmap(nullptr, map_len_,
			       ro_ ? PROT_READ | PROT_WRITE :
				     PROT_READ | PROT_WRITE,
			       ro_ ? MAP_PRIVATE : MAP_SHARED, sfd, 0);
		ok = m != MAP_FAILED;
		if (ok)
			base_ = static_cast<char *>(m);
	}
	::close(sfd);
	if (!ok) {
		if (!ro_)
			unlink(shadow_path_
				       .c_str()); // stale: another image's, or outdated
		return false;
	}
	set_bitmaps(toff, bm);
	seq_ = trailer_->seq;
	return true;
}

// A new shadow: the image's data copied in (holes and zero runs stay holes,
// so an empty image costs no memory), then the trailer.
int FileImage::build_shadow(std::string *err)
{
	unlink(shadow_path_.c_str());
	int sfd = ::open(shadow_path_.c_str(),
			 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (sfd < 0) {
		*err = "cannot create its working copy " + shadow_path_ + ": " +
		       strerror(errno);
		return -errno;
	}
	const uint64_t toff = round_page(len_);
	const uint64_t bm = round_page(nwords_ * 8);
	map_len_ = toff + kPage + 4 * bm;
	struct statfs sf;
	if (!fstatfs(sfd, &sf) &&
	    uint64_t(sf.f_bavail) * sf.f_bsize < map_len_) {
		::close(sfd);
		unlink(shadow_path_.c_str());
		*err = "its working copy needs up to " +
		       std::to_string(map_len_ >> 20) +
		       " MiB in /dev/shm, which has " +
		       std::to_string((uint64_t(sf.f_bavail) * sf.f_bsize) >>
				      20) +
		       " MiB free";
		return -ENOSPC;
	}
	int e = 0;
	if (ftruncate(sfd, static_cast<off_t>(map_len_))) {
		e = -errno;
		*err = "cannot size its working copy: " +
		       std::string(strerror(errno));
	}
	std::vector<char> buf(kChunk);
	static const char zeros[kPage] = {};
	off_t at = 0;
	while (!e && uint64_t(at) < len_) {
		off_t data = lseek(fd_, at, SEEK_DATA);
		if (data < 0)
			break; // ENXIO: only a hole is left
		off_t hole = lseek(fd_, data, SEEK_HOLE);
		if (hole < 0)
			hole = static_cast<off_t>(len_);
		for (off_t p = data; p < hole && uint64_t(p) < len_;) {
			size_t n = std::min<uint64_t>(
				{ kChunk, uint64_t(hole - p), len_ - p });
			if (!pread_all(fd_, buf.data(), n, p)) {
				e = -errno;
				*err = "cannot read: " +
				       std::string(strerror(errno));
				break;
			}
			for (size_t k = 0; k < n && !e; k += kPage) {
				size_t m = std::min<size_t>(kPage, n - k);
				if (!memcmp(buf.data() + k, zeros, m))
					continue;
				if (!pwrite_all(sfd, buf.data() + k, m,
						p + k)) {
					e = -errno;
					*err = "cannot write its working copy " +
					       shadow_path_ + ": " +
					       strerror(errno);
				}
			}
			p += n;
		}
		at = hole;
	}
	void *m = MAP_FAILED;
	if (!e) {
		m = mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_SHARED,
			 sfd, 0);
		if (m == MAP_FAILED) {
			e = -errno;
			*err = "cannot map its working copy: " +
			       std::string(strerror(errno));
		}
	}
	::close(sfd);
	if (e) {
		unlink(shadow_path_.c_str());
		return e;
	}
	base_ = static_cast<char *>(m);
	set_bitmaps(toff, bm);
	trailer_->dev = dev_;
	trailer_->ino = ino_;
	trailer_->len = len_;
	trailer_->seq = seq_;
	note_image_written();
	__atomic_store_n(&trailer_->magic, kShadowMagic,
			 __ATOMIC_RELEASE); // last
	return 0;
}

int FileImage::open_rw(std::string *err)
{
	jfd_ = ::open(journal_path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC,
		      0600);
	if (jfd_ < 0) {
		*err = "cannot open its journal " + journal_path_ + ": " +
		       strerror(errno);
		return -errno;
	}
	// A committed transaction not yet (known to be) home: put it home
	// first, before any new commit may overwrite the journal.
	std::vector<uint64_t> pages;
	uint64_t jseq = 0;
	const bool have_tx = read_journal(jfd_, len_, &pages, &jseq);
	const bool adopted = adopt_shadow();
	if (have_tx) {
		if (!apply_journal(jfd_, pages, len_, fd_, nullptr) ||
		    !disk_sync(fd_, 0)) {
			*err = "cannot replay its journal: " +
			       std::string(strerror(errno));
			return -EIO;
		}
		static const char zero[kPage] = {};
		if (!disk_write(jfd_, 1, zero, kPage, 0) ||
		    !disk_sync(jfd_, 1)) {
			*err = "cannot reset its journal: " +
			       std::string(strerror(errno));
			return -EIO;
		}
		seq_ = std::max(seq_, jseq);
	}
	if (adopted) {
		note_image_written();
		recovered_ = "took over the working copy " + shadow_path_ +
			     " of a zufuse that ended without unmounting";
		return 0;
	}
	if (have_tx)
		recovered_ = "replayed its journal (" +
			     std::to_string(pages.size()) +
			     " pages of the last commit)";
	return build_shadow(err);
}

int FileImage::open_ro(std::string *err)
{
	if (adopt_shadow())
		return 0;
	void *m = mmap(nullptr, round_page(len_), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE, fd_, 0);
	if (m == MAP_FAILED) {
		*err = "cannot map: " + std::string(strerror(errno));
		return -errno;
	}
	base_ = static_cast<char *>(m);
	map_len_ = round_page(len_);
	jfd_ = ::open(journal_path_.c_str(), O_RDONLY | O_CLOEXEC);
	std::vector<uint64_t> pages;
	uint64_t jseq = 0;
	if (read_journal(jfd_, len_, &pages, &jseq)) {
		apply_journal(jfd_, pages, len_, -1, base_);
		recovered_ = "applied its journal in memory (read-only)";
	}
	return 0;
}

FileImage::~FileImage()
{
	stop_timer();
	{
		std::lock_guard g(g_registry_mu);
		g_registry.erase(
			std::find(g_registry.begin(), g_registry.end(), this));
	}
	if (!ro_ && !abandoned_ && trailer_) {
		barrier_ = nullptr;
		int e = commit();
		if (!e && ckpt_unsynced_ && !failed_ && !disk_sync(fd_, 0))
			e = -EIO;
		if (stats_.commits || data_syncs_)
			fprintf(stderr,
				"zufuse: image %s: %llu commits, %llu pages journaled, %llu "
				"written home directly; %llu data syncs without a commit "
				"(%llu pages), %llu that took one; ms: lanes waited %llu, "
				"held %llu (max %llu), writes+syncs %llu, checkpoints %llu\n",
				path_.c_str(),
				static_cast<unsigned long long>(stats_.commits),
				static_cast<unsigned long long>(
					stats_.journaled),
				static_cast<unsigned long long>(stats_.home),
				static_cast<unsigned long long>(data_syncs_),
				static_cast<unsigned long long>(data_written_),
				static_cast<unsigned long long>(data_commits_),
				static_cast<unsigned long long>(stats_.wait_ns /
								1000000),
				static_cast<unsigned long long>(stats_.held_ns /
								1000000),
				static_cast<unsigned long long>(
					stats_.max_held_ns / 1000000),
				static_cast<unsigned long long>(stats_.sync_ns /
								1000000),
				static_cast<unsigned long long>(stats_.ckpt_ns /
								1000000));
		if (e == 0 && !failed_) {
			// Everything is home: the shadow and the journal go.
			unlink(journal_path_.c_str());
			trailer_->magic = 0;
			unlink(shadow_path_.c_str());
		}
	}
	if (base_)
		munmap(base_, map_len_);
	if (jfd_ >= 0)
		::close(jfd_);
	if (fd_ >= 0)
		::close(fd_);
}

void FileImage::mark(const void *addr, size_t n) { mark_in(live_, addr, n); }

void FileImage::mark_data(const void *addr, size_t n)
{
	mark_in(data_live_, addr, n);
}

void FileImage::mark_in(uint64_t *bits, const void *addr, size_t n)
{
	if (!n || !bits)
		return;
	const uint64_t off = static_cast<const char *>(addr) - base_;
	if (off >= len_)
		return;
	const uint64_t first = off / kPage;
	const uint64_t last = std::min(npages_ - 1, (off + n - 1) / kPage);
	uint64_t fresh = 0;
	for (uint64_t p = first; p <= last; ++p) {
		uint64_t *w = &bits[p / 64];
		const uint64_t bit = 1ULL << (p % 64);
		if (__atomic_load_n(w, __ATOMIC_RELAXED) & bit)
			continue;
		if (!(__atomic_fetch_or(w, bit, __ATOMIC_RELAXED) & bit))
			++fresh;
	}
	if (fresh &&
	    dirty_new_.fetch_add(fresh, std::memory_order_relaxed) + fresh >=
		    kKickPages &&
	    timer_.joinable()) {
		std::lock_guard g(timer_mu_);
		if (!timer_kick_) {
			timer_kick_ = true;
			timer_cv_.notify_one();
		}
	}
}

void FileImage::set_barrier(std::function<void(bool)> fn)
{
	std::lock_guard g(commit_mu_);
	barrier_ = std::move(fn);
}

void FileImage::track_allocation(const void *bitmap, uint64_t nbits)
{
	std::lock_guard g(commit_mu_);
	alloc_ = static_cast<const uint64_t *>(bitmap);
	alloc_bits_ = std::min(nbits, npages_);
	committed_alloc_.assign((alloc_bits_ + 63) / 64, ~0ULL);
	if (ro_)
		return;
	// As last committed: what the image on disk says (it is a committed
	// state: the journal was replayed, a shadow is never older) -- unless
	// the disk's first page is not the working copy's (a format not yet
	// committed). Then, over an image that was never formatted (its first
	// page all zero), every page but the first is fresh (page 0, with the
	// magic, is always journaled: a format cut short leaves no image); over
	// another image (mkfs --force), none is: the first commit is atomic.
	std::vector<char> first(kPage);
	static const char zeros[kPage] = {};
	const uint64_t off = reinterpret_cast<const char *>(bitmap) - base_;
	if (!pread_all(fd_, first.data(), kPage, 0))
		return;
	if (!memcmp(first.data(), base_, kPage)) {
		if (!pread_all(fd_, committed_alloc_.data(),
			       committed_alloc_.size() * 8, off))
			committed_alloc_.assign(committed_alloc_.size(), ~0ULL);
	} else if (!memcmp(first.data(), zeros, kPage)) {
		committed_alloc_.assign(committed_alloc_.size(), 0);
	}
}

void FileImage::note_image_written()
{
	struct stat st;
	if (fstat(fd_, &st))
		return;
	trailer_->mtime_s = st.st_mtim.tv_sec;
	trailer_->mtime_ns = st.st_mtim.tv_nsec;
	__atomic_store_n(&trailer_->mtime_valid, 1, __ATOMIC_RELEASE);
}

void FileImage::start_timer(unsigned interval_ms)
{
	if (ro_ || timer_.joinable() || !interval_ms)
		return;
	timer_ = std::thread([this, interval_ms] { timer_loop(interval_ms); });
}

void FileImage::timer_loop(unsigned interval_ms)
{
	std::unique_lock lk(timer_mu_);
	while (!timer_stop_) {
		timer_cv_.wait_for(lk, std::chrono::milliseconds(interval_ms),
				   [&] { return timer_stop_ || timer_kick_; });
		if (timer_stop_)
			break;
		timer_kick_ = false;
		lk.unlock();
		commit();
		lk.lock();
	}
}

void FileImage::stop_timer()
{
	if (!timer_.joinable())
		return;
	{
		std::lock_guard g(timer_mu_);
		timer_stop_ = true;
		timer_cv_.notify_one();
	}
	timer_.join();
	std::lock_guard g(timer_mu_);
	timer_stop_ = false;
}

FileImage::Stats FileImage::stats() const
{
	Stats st = stats_;
	st.data_syncs = data_syncs_.load(std::memory_order_relaxed);
	st.data_pages = data_written_.load(std::memory_order_relaxed);
	st.data_commits = data_commits_.load(std::memory_order_relaxed);
	return st;
}

} // namespace zus
