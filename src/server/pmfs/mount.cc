// SPDX-License-Identifier: BSD-3-Clause
//
// mount.cc - mount and umount of a pmfs image, superblock validation, and
// the per-mount ops (STATFS, SYNC, EVICT/FREE_INODE).
//
// Mount, in order: parse options; open, lock and map the image; format it
// when asked; validate the superblock; roll back interrupted transactions;
// mark the superblock dirty (and bump the mount generation, which seeds the
// journal's sequence numbers); build the allocator; free orphan inodes and
// finish interrupted truncations; answer the root.
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>

#include "fault/guard.h"
#include "server/crc32c.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/format.h"
#include "server/pmfs/inode.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"
#include <libpmem.h>

zus_sb_info::zus_sb_info() = default;

zus_sb_info::~zus_sb_info()
{
	icache.reset();
	persist.set_commit_barrier(nullptr); // the lanes go with the journal
	if (base)
		zufs::fault::unregister_mapping(base);
	if (file_image)
		file_image.reset(); // a last commit, unless abandoned; unmaps
	else if (base) {
		zus::note_memory_mapping(base, map_len, false);
		pmem_unmap(base, map_len);
	}
	if (fd >= 0)
		close(fd); // drops the flock
	magic = 0;
}

void zus_sb_info::release_blocks(zus_inode_info *owner, uint64_t bn, uint64_t n)
{
	if (any_held.load(std::memory_order_acquire)) { // rare: see held
		std::vector<std::pair<uint64_t, uint64_t>> runs;
		{
			std::lock_guard lk(held_mu);
			uint64_t run = bn;
			for (uint64_t b = bn; b < bn + n; ++b) {
				if (!held.count(b))
					continue;
				if (b > run)
					runs.emplace_back(run, b - run);
				held_freed.push_back(
					b); // released by unhold_blocks
				run = b + 1;
			}
			if (run < bn + n)
				runs.emplace_back(run, bn + n - run);
		}
		for (auto [b, k] : runs)
			release_blocks_unheld(owner, b, k);
		return;
	}
	release_blocks_unheld(owner, bn, n);
}

void zus_sb_info::deferred_released(uint64_t n)
{
	deferred_blocks.fetch_sub(n, std::memory_order_relaxed);
	{
		std::lock_guard g(deferred_mu);
		++deferred_releases;
	}
	deferred_cv.notify_all();
}

void zus_sb_info::hold_block(zus_inode_info *owner, uint64_t bn)
{
	{
		std::lock_guard lk(owner->defer_mu);
		owner->held.push_back(bn);
	}
	std::lock_guard lk(held_mu);
	++held[bn];
	any_held.store(true, std::memory_order_release);
}

void zus_sb_info::unhold_blocks(zus_inode_info *owner)
{
	std::vector<uint64_t> mine;
	{
		std::lock_guard lk(owner->defer_mu);
		if (owner->pins.load(std::memory_order_acquire) > 0)
			return;
		mine.swap(owner->held);
	}
	if (mine.empty())
		return;
	std::vector<uint64_t> free_now;
	{
		std::lock_guard lk(held_mu);
		for (uint64_t b : mine) {
			auto it = held.find(b);
			if (it == held.end() || --it->second)
				continue;
			held.erase(it);
			auto f = std::find(held_freed.begin(), held_freed.end(),
					   b);
			if (f != held_freed.end()) {
				held_freed.erase(f);
				free_now.push_back(b);
			}
		}
		if (held.empty())
			any_held.store(false, std::memory_order_release);
	}
	for (uint64_t b : free_now)
		balloc.release(b, 1);
}

void zus_sb_info::release_blocks_unheld(zus_inode_info *owner, uint64_t bn,
					uint64_t n)
{
	if (owner) {
		std::lock_guard lk(owner->defer_mu);
		if (owner->pins.load(std::memory_order_acquire) > 0) {
			owner->deferred.emplace_back(bn, n);
			deferred_blocks.fetch_add(n, std::memory_order_relaxed);
			return;
		}
	}
	balloc.release(bn, n);
}

namespace zus::pmfs {

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

zus_inode_info *ii_cookie(zus_inode_info *ii, int *err)
{
	if (!ii || ii->magic != zus_inode_info::kMagic) [[unlikely]] {
		*err = -EINVAL;
		return nullptr;
	}
	if (ii->sbi->crashed.load(std::memory_order_relaxed)) [[unlikely]] {
		*err = -EIO;
		return nullptr;
	}
	if (zufs::fault::media_failed())
		[[unlikely]] { // a page of metadata lost
		stop_after_media_fault(*ii->sbi);
		*err = -EIO;
		return nullptr;
	}
	return ii;
}

namespace {

struct Options {
	std::string pmem;
	uint64_t size = 0;
	bool mkfs = false;
	bool ro = false;
	bool acl = true;      // as ext4: "noacl" turns POSIX ACLs off
	bool noatime = false; // "noatime": reads leave atime (else relatime)
	bool strictatime = false; // "strictatime": every read sets it
	bool nodiratime = false;  // "nodiratime": readdir leaves it
	uint64_t t2size = 0;	  // bytes of the shim's T2 store (tier.h)
	unsigned commit_s = 5;	  // "commit=": file back-end commit interval
};

// The value of key=N, N decimal and at most max; false with *err
// ("bad KEY 'N' (what)") when it is not.
bool decimal(std::string_view key, std::string_view val, uint64_t max,
	     const char *what, uint64_t *out, std::string *err)
{
	std::string v(val);
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v.c_str(), &end, 10);
	if (errno || *end || v[0] == '-' || n > max) {
		*err = "bad " + std::string(key) + " '" + v + "' (" + what +
		       ")";
		return false;
	}
	*out = n;
	return true;
}

int parse_options(const zufs_ioc_mount &m, Options *o, std::string *err,
		  bool remount = false)
{
	const char *txt = m.zmi.po.mount_options;
	size_t len = strnlen(txt, m.zmi.po.mount_options_len);
	std::string_view all(txt, len);
	while (!all.empty()) {
		size_t comma = all.find(',');
		std::string_view opt = all.substr(0, comma);
		all = comma == all.npos ? std::string_view() :
					  all.substr(comma + 1);
		if (opt.empty())
			continue;
		size_t eq = opt.find('=');
		std::string_view key = opt.substr(0, eq);
		std::string_view val = eq == opt.npos ? std::string_view() :
							opt.substr(eq + 1);
		if (key == "pmem" && !val.empty()) {
			o->pmem = val;
		} else if (key == "size" && !val.empty()) {
			if (!decimal(key, val, UINT64_MAX, "decimal bytes",
				     &o->size, err))
				return -EINVAL;
		} else if (key == "t2size" && !val.empty()) {
			if (!decimal(key, val, UINT64_MAX, "decimal bytes",
				     &o->t2size, err))
				return -EINVAL;
		} else if (key == "commit" && !val.empty()) {
			uint64_t s;
			if (!decimal(key, val, 3600, "seconds, 0 to 3600", &s,
				     err))
				return -EINVAL;
			o->commit_s = static_cast<unsigned>(s);
		} else if (key == "mkfs" && eq == opt.npos) {
			o->mkfs = true;
		} else if (key == "ro" && eq == opt.npos) {
			o->ro = true;
		} else if (key == "acl" && eq == opt.npos) {
			o->acl = true;
		} else if (key == "noacl" && eq == opt.npos) {
			o->acl = false;
		} else if (key == "noatime" && eq == opt.npos) {
			o->noatime = true;
			o->strictatime = false;
		} else if (key == "strictatime" && eq == opt.npos) {
			o->noatime = false;
			o->strictatime = true;
		} else if (key == "relatime" && eq == opt.npos) {
			o->noatime = o->strictatime = false;
		} else if (key == "nodiratime" && eq == opt.npos) {
			o->nodiratime = true;
		} else if (key == "diratime" && eq == opt.npos) {
			o->nodiratime = false;
		} else if (key == "rw" && eq == opt.npos) {
			o->ro = false;
		} else {
			*err = "unknown mount option '" + std::string(opt) +
			       "'";
			return -EINVAL;
		}
	}
	if (o->pmem.empty() && !remount) {
		*err = "missing pmem=PATH";
		return -EINVAL;
	}
	return 0;
}

std::string bytes(uint64_t n) { return std::to_string(n) + " bytes"; }

// Open, lock and map the image, creating, formatting or growing it as the
// options ask -- and refusing before anything is written: another file
// system in it (libblkid), a --size smaller than it, a growth its format
// cannot describe.
int open_image(const Options &o, Image *img, std::string *err)
{
	int e = img->open_locked(o.pmem, o.size, err);
	if (e == -ENOENT)
		*err += " (give --size to create it)";
	if (e)
		return e;
	const std::string pre = "image " + o.pmem + ": ";
	pmfs_super head{};
	const bool ours =
		img->read_head(&head, sizeof(head)) && head.s_magic == kMagic;
	if (!img->created && img->size && o.size && o.size < img->size) {
		*err = pre + "--size " + bytes(o.size) +
		       " is smaller than the image (" + bytes(img->size) +
		       "); a file system cannot shrink";
		return -EINVAL;
	}
	if (!ours && !img->created) {
		std::string other = img->foreign_signature();
		if (!other.empty()) {
			*err = pre + "holds " + other +
			       ", not a zufuse image (mkfs.zufs --force formats over it)";
			return -EINVAL;
		}
	}
	if (ours && o.mkfs) {
		*err = pre +
		       "already formatted; refusing --mkfs (use mkfs.zufs --force)";
		return -EEXIST;
	}
	if (ours && o.size > img->size) {
		std::string why;
		if (o.ro) {
			*err = pre + "cannot grow to " + bytes(o.size) +
			       " on a read-only mount";
			return -EROFS;
		}
		if (!validate_super(head, o.size, &why) &&
		    (e = check_growth(head, o.size, &why))) {
			*err = pre + why;
			return e;
		}
	}
	if ((e = img->grow_file(o.pmem, o.size, err)) ||
	    (e = img->map(o.pmem, err, o.ro)))
		return e;
	if (!ours) {
		if (!o.mkfs && !img->created)
			return 0; // recover_super restores a copy, or says "bad magic"
		format_mapping(img->base, img->len);
	}
	return 0;
}

void seal_super(zus_sb_info &sbi, uint32_t state)
{
	sbi.sb->s_state = state;
	write_super(sbi.base, sbi.map_len, sbi.sb);
}

} // namespace

int mount(zufs_ioc_mount &m, zufs::ZufCalls *zuf,
	  std::unique_ptr<zus_sb_info> *out)
{
	std::string err;
	auto fail = [&](int e) {
		snprintf(m.errmsg, sizeof(m.errmsg), "%s", err.c_str());
		m.hdr.err = e;
		return e;
	};
	Options o;
	int e = parse_options(m, &o, &err);
	if (e)
		return fail(e);

	Image img;
	if ((e = open_image(o, &img, &err)))
		return fail(e);
	std::string why;
	bool restored = false;
	if ((e = recover_super(img.base, img.len, !o.ro, &restored, &why))) {
		err = "image " + o.pmem + ": " + why;
		return fail(e);
	}
	if (restored)
		fprintf(stderr, "zufuse: image %s: %s%s\n", o.pmem.c_str(),
			why.c_str(), o.ro ? "" : ": restored");

	auto sbi = std::make_unique<zus_sb_info>();
	sbi->path = o.pmem;
	sbi->ro = o.ro;
	sbi->mounted_ro = o.ro;
	sbi->commit_s = o.commit_s;
	sbi->acl = o.acl;
	sbi->noatime = o.noatime;
	sbi->strictatime = o.strictatime;
	sbi->nodiratime = o.nodiratime;
	sbi->zuf = zuf;
	sbi->t2_blocks = o.t2size >> kBlockShift;
	img.release(&sbi->fd, &sbi->base, &sbi->map_len, &sbi->file_image);
	sbi->sb = reinterpret_cast<pmfs_super *>(sbi->base);
	sbi->persist.init(sbi->base, sbi->map_len);
	// A SIGBUS in a data copy fails that request (fault/guard.h). The fd
	// tells a shrunk or full image file from a media error; the file
	// back-end maps a working copy instead, which the fd does not describe.
	zufs::fault::register_mapping(
		sbi->base, sbi->map_len, sbi->file_image ? -1 : sbi->fd,
		sbi->sb->s_data_blk * kBlockSize, o.pmem.c_str());

	zus_inode *rzi = sbi->zi_of(kRootIno);
	if (rzi->i_ino != kRootIno || !S_ISDIR(rzi->i_mode)) {
		err = "image " + o.pmem + ": corrupt root inode";
		return fail(-EINVAL);
	}

	// Recovery: the journal lanes (a few heads), then what the orphan
	// table lists (inode.h; empty after a clean umount): time proportional
	// to the work in flight. The whole inode table is read only after the
	// orphan table overflowed (kSuperOrphanFull).
	const uint64_t t0 = now_ns();
	const bool was_clean = sbi->sb->s_state == kStateClean;
	sbi->balloc.bind(sbi.get());
	sbi->journal.init(sbi.get());
	int recovered = sbi->journal.recover();
	// --size larger than the file system: grow it (resize.cc), before the
	// allocator and the tiers size themselves from it.
	if (o.size && !o.ro &&
	    sbi->sb->s_nblocks < sbi->map_len / kBlockSize - 1) {
		const uint64_t before = sbi->sb->s_size;
		if ((e = grow_fs(sbi->base, sbi->map_len, &why))) {
			err = "image " + o.pmem + ": " + why;
			return fail(e);
		}
		if (sbi->sb->s_size != before)
			fprintf(stderr,
				"zufuse: image %s: file system grown from %llu to %llu bytes\n",
				o.pmem.c_str(), (unsigned long long)before,
				(unsigned long long)sbi->sb->s_size);
	}
	// Tier 2: the T2 this image needs, and its allocator (tier.h).
	if ((e = tier_mount(*sbi, &why))) {
		err = "image " + o.pmem + ": " + why;
		return fail(e);
	}
	if (!o.ro) {
		sbi->sb->s_mount_gen++;
		sbi->sb->s_version = kVersion; // layout.h: 3 and 4 become 5
		seal_super(*sbi, kStateDirty);
	}
	sbi->balloc.init(sbi.get());
	// Freeing must not need space (balloc.h): a shrinking truncate or a
	// punch inside a shared block (refc.h) or a block on T2, an xattr
	// removed, take the few blocks they need from this reserve.
	sbi->balloc.set_reserve(
		std::min<uint64_t>(64, sbi->balloc.data_blocks() / 64));
	sbi->persist.track_allocation(sbi->blk(sbi->sb->s_bitmap_blk),
				      sbi->nblocks());
	sbi->icache = std::make_unique<InodeCache>(sbi.get());
	int orphans = sbi->icache->scan_at_mount(was_clean && !recovered);
	if (recovered || orphans || !was_clean) {
		const uint64_t ms = (now_ns() - t0) / 1000000;
		fprintf(stderr,
			"zufuse: image %s: recovered after an unclean shutdown: rolled back "
			"%d interrupted transaction%s, freed %d orphan inode%s (%llu ms)\n",
			o.pmem.c_str(), recovered, recovered == 1 ? "" : "s",
			orphans, orphans == 1 ? "" : "s",
			static_cast<unsigned long long>(ms));
	}

	sbi->root = sbi->icache->get(kRootIno);
	zus_inode_info *shim_root = sbi->icache->get(kRootIno);
	if (!sbi->root || !shim_root) {
		err = "image " + o.pmem + ": corrupt root inode";
		return fail(-EINVAL);
	}
	m.zmi.zus_sbi = sbi.get();
	m.zmi.zus_ii = shim_root;
	m.zmi._zi = zu_enc_dpp_t(sbi->off_of(shim_root->zi), 0);
	m.zmi.s_blocksize_bits = kBlockShift;
	m.zmi.fs_caps = o.acl ? ZUFS_FSC_ACL_ON : 0;
	m.pools[0].base = reinterpret_cast<uintptr_t>(sbi->base);
	m.pools[0].size = sbi->map_len;
	m.errmsg[0] = 0;
	m.hdr.err = 0;
	tier_start(*sbi, &m.pools[1]); // the evictor (pool 1: its bounce)
	sbi->persist.start_commit_timer(o.commit_s * 1000);
	*out = std::move(sbi);
	return 0;
}

void umount(std::unique_ptr<zus_sb_info> sbi)
{
	// Async iomaps reference the mount until their IOM_DONE (the shim
	// delivers all of them before it sends UMOUNT).
	tier_stop(*sbi); // the evictor finishes its migrations first
	drain_iomap_jobs(*sbi);
	if (zufs::fault::media_failed())
		stop_after_media_fault(*sbi);
	if (sbi->crashed) { // a simulated crash: leave the media exactly as it is
		if (sbi->file_image)
			sbi->file_image->abandon(); // as a kill -9 would
		return;
	}
	sbi->icache->drop_all();
	sbi->persist.sync_all();
	if (!sbi->ro)
		seal_super(*sbi, kStateClean);
}

int remount(zus_sb_info &sbi, zufs_ioc_mount &m)
{
	std::string err;
	Options o;
	o.commit_s = sbi.commit_s;
	if (int e = parse_options(m, &o, &err, true)) {
		snprintf(m.errmsg, sizeof(m.errmsg), "%s", err.c_str());
		return e;
	}
	if (!o.ro && sbi.mounted_ro) {
		snprintf(
			m.errmsg, sizeof(m.errmsg),
			"image %s was mounted read-only (mapped so): unmount it and "
			"mount it rw",
			sbi.path.c_str());
		return -EROFS;
	}
	if (sbi.crashed)
		return -EIO;
	sbi.noatime = o.noatime;
	sbi.strictatime = o.strictatime;
	sbi.nodiratime = o.nodiratime;
	const bool commit_changed = o.commit_s != sbi.commit_s;
	sbi.commit_s = o.commit_s;
	if (o.ro && !sbi.ro) {
		// The kernel refused the remount while a file was open for
		// writing; what is in flight finishes before the evictor stops.
		sbi.ro = true;
		tier_stop(sbi);
		drain_iomap_jobs(sbi);
		sbi.persist.stop_commit_timer();
		seal_super(sbi, kStateClean);
		if (int e = sbi.persist.sync_all())
			return e;
	} else if (!o.ro && sbi.ro) {
		sbi.sb->s_mount_gen++;
		seal_super(sbi, kStateDirty);
		sbi.ro = false;
		zufs_pool_info pool{}; // the bounce the shim knows stays
		tier_start(sbi, &pool);
		sbi.persist.start_commit_timer(sbi.commit_s * 1000);
	} else if (!sbi.ro && commit_changed) {
		sbi.persist.stop_commit_timer();
		sbi.persist.start_commit_timer(sbi.commit_s * 1000);
	}
	return 0;
}

void stop_after_media_fault(zus_sb_info &sbi)
{
	if (!sbi.crashed.exchange(true))
		fprintf(stderr,
			"zufuse: image %s: media fault in metadata: the mount now answers "
			"every request with EIO; unmount it, the next mount rolls back what "
			"was in flight (then run fsck.zufs)\n",
			sbi.path.c_str());
}

int sync_fs(zus_sb_info &sbi) { return sbi.persist.sync_all(); }

int op_statfs(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *st = reinterpret_cast<zufs_ioc_statfs *>(hdr);
	zus_sb_info *sbi = st->zus_sbi;
	if (!sbi || sbi->magic != zus_sb_info::kMagic)
		return -EINVAL;
	auto &f = st->statfs_out;
	memset(&f, 0, sizeof(f));
	f.f_type = 0x5a554653; // "ZUFS"
	f.f_bsize = kBlockSize;
	f.f_frsize = kBlockSize;
	f.f_blocks = sbi->balloc.data_blocks();
	f.f_bfree = f.f_bavail = sbi->balloc.free_blocks();
	tier_statfs(*sbi, &f.f_blocks, &f.f_bfree); // capacity is T1 + T2
	// Available: what one fallocate can get, the nodes that map it
	// counted (generic/103 allocates f_bavail - 512 KiB in one go); the
	// reserve for freeing operations is not (balloc.h, as ext4's).
	f.f_bavail = bmap_max_data(f.f_bfree -
				   std::min(f.f_bfree, sbi->balloc.reserved()));
	f.f_files = sbi->sb->s_inode_count;
	f.f_ffree = sbi->icache->free_inodes();
	f.f_namelen = ZUFS_NAME_LEN;
	memcpy(&f.f_fsid, sbi->sb->s_uuid, sizeof(f.f_fsid));
	if (sbi->ro)
		f.f_flags = ST_RDONLY;
	return 0;
}

// zufuse's ZUFS_OP_STATS: space per tier and the counters since mount.
int op_stats(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *st = reinterpret_cast<zufs_ioc_stats *>(hdr);
	zus_sb_info *sbi = st->zus_sbi;
	if (!sbi || sbi->magic != zus_sb_info::kMagic)
		return -EINVAL;
	st->t1_blocks = sbi->balloc.data_blocks();
	st->t1_free = sbi->balloc.free_blocks();
	uint64_t t2_blocks = 0, t2_free = 0;
	tier_statfs(*sbi, &t2_blocks, &t2_free); // adds T2's blocks, free
	st->t2_blocks = t2_blocks;
	st->t2_used = t2_blocks - t2_free;
	st->inodes = sbi->sb->s_inode_count;
	st->inodes_free = sbi->icache->free_inodes();
	TierStats ts = tier_stats(*sbi);
	st->evictions = ts.evicted + ts.sync_evicted;
	st->sync_evictions = ts.sync_evicted;
	st->promotions = ts.promoted;
	st->cold_reads = ts.cold_reads;
	st->journal_commits = sbi->journal.commits();
	return 0;
}

int op_sync(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *zs = reinterpret_cast<zufs_ioc_sync *>(hdr);
	zs->write_unmapped = 0;
	int err = 0;
	zus_inode_info *ii = ii_cookie(zs->zus_ii, &err);
	if (!ii)
		return err;
	// fdatasync of a file whose size and block map are committed: its
	// data, without a commit (the times wait, as fdatasync(2) allows).
	zus_sb_info &sbi = *ii->sbi;
	if ((zs->flags & ZUFS_SF_DATASYNC) && S_ISREG(ii->zi->i_mode) &&
	    sbi.persist.committed(
		    ii->meta_epoch.load(std::memory_order_acquire)))
		return sbi.persist.sync_data_all();
	return sync_fs(sbi);
}

int op_evict_inode(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *ze = reinterpret_cast<zufs_ioc_evict_inode *>(hdr);
	zus_inode_info *ii = ze->zus_ii;
	if (!ii || ii->magic != zus_inode_info::kMagic)
		return -EINVAL;
	if (ii->refs.load(std::memory_order_relaxed) <= 0)
		return -EINVAL;
	ii->sbi->icache->put(ii);
	return 0;
}

} // namespace zus::pmfs
