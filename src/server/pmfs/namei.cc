// SPDX-License-Identifier: BSD-3-Clause
//
// namei.cc - the namespace: NEW_INODE, LOOKUP, ADD_DENTRY, REMOVE_DENTRY,
// RENAME (READDIR is dir.cc). Every change is one transaction; all of them
// run under the per-mount ns_lock held exclusively (see pmfs.h), lookups
// hold it shared.
#include <dirent.h>
#include <linux/fs.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include "server/pages.h"
#include "server/pmfs/bmap.h"
#include "server/pmfs/dir.h"
#include "server/pmfs/file.h"
#include "server/pmfs/inode.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/tier.h"
#include "server/pmfs/xattr.h"

namespace zus::pmfs {

namespace {

int check_name(const zufs_str &s, std::string_view *out)
{
	if (s.len == 0)
		return -EINVAL;
	std::string_view name(s.name, s.len);
	if (name == "." || name == "..")
		return -EINVAL;
	if (name.find('/') != name.npos || name.find('\0') != name.npos)
		return -EINVAL;
	*out = name;
	return 0;
}

uint8_t dt_of(uint16_t mode) { return static_cast<uint8_t>((mode >> 12) & 15); }

// The live info of ino, taken for the length of one operation.
struct InodeRef {
	zus_sb_info &sbi;
	zus_inode_info *ii;
	InodeRef(zus_sb_info &s, uint64_t ino) : sbi(s), ii(s.icache->get(ino))
	{
	}
	~InodeRef()
	{
		if (ii)
			sbi.icache->put(ii);
	}
	InodeRef(const InodeRef &) = delete;
	InodeRef &operator=(const InodeRef &) = delete;
};

// An exclusive lock on each distinct inode of a namespace change. Several
// inodes are locked only with ns_lock held exclusively, so the order does
// not matter for deadlocks; it is still kept by ino.
class InodeLocks {
  public:
	void add(zus_inode_info *ii)
	{
		if (!ii)
			return;
		for (int i = 0; i < n_; ++i)
			if (ii_[i] == ii)
				return;
		ii_[n_++] = ii;
	}
	void lock()
	{
		std::sort(ii_, ii_ + n_,
			  [](auto *a, auto *b) { return a->ino < b->ino; });
		for (int i = 0; i < n_; ++i)
			ii_[i]->rw.lock();
		locked_ = true;
	}
	~InodeLocks()
	{
		if (locked_)
			for (int i = n_ - 1; i >= 0; --i)
				ii_[i]->rw.unlock();
	}

  private:
	zus_inode_info *ii_[4];
	int n_ = 0;
	bool locked_ = false;
};

bool dir_empty(zus_sb_info &sbi, zus_inode_info *dir)
{
	return dir_index(sbi, dir).nentries == 0;
}

} // namespace

zus_inode_info *dir_cookie(zus_inode_info *p, int *err)
{
	zus_inode_info *d = ii_cookie(p, err);
	if (d && !S_ISDIR(d->zi->i_mode)) {
		*err = -ENOTDIR;
		return nullptr;
	}
	return d;
}

int op_lookup(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *lk = reinterpret_cast<zufs_ioc_lookup *>(hdr);
	int err = 0;
	lk->_zi = 0;
	lk->zus_ii = nullptr;
	zus_inode_info *dir = dir_cookie(lk->dir_ii, &err);
	if (!dir)
		return err;
	std::string_view name;
	if ((err = check_name(lk->str, &name)))
		return err;
	zus_sb_info &sbi = *dir->sbi;
	std::shared_lock ns(sbi.ns_lock);
	uint64_t slot, ino;
	if ((err = dir_find(sbi, dir, name, &slot, &ino)))
		return err;
	zus_inode_info *ii = sbi.icache->get(ino);
	if (!ii)
		return -EIO; // a dentry to a free inode: corrupt directory
	lk->_zi = zu_enc_dpp_t(sbi.off_of(ii->zi), 0);
	lk->zus_ii = ii;
	return 0;
}

int op_new_inode(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	auto *ni = reinterpret_cast<zufs_ioc_new_inode *>(hdr);
	int err = 0;
	ni->_zi = 0;
	ni->zus_ii = nullptr;
	zus_inode_info *dir = dir_cookie(ni->dir_ii, &err);
	if (!dir)
		return err;
	zus_sb_info &sbi = *dir->sbi;
	if (sbi.ro)
		return -EROFS;
	const bool tmpfile = ni->flags & ZI_TMPFILE;
	std::string_view name;
	if (!tmpfile && (err = check_name(ni->str, &name)))
		return err;
	const uint16_t mode = ni->zi.i_mode;
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		break;
	default:
		return -EINVAL;
	}
	const bool is_dir = S_ISDIR(mode);
	if (tmpfile && is_dir)
		return -EINVAL;
	BlockAlloc::Hold hold(sbi.balloc); // a directory block, a symlink's
	tier_room_for_metadata(sbi);
	uint32_t symlen = 0;
	if (S_ISLNK(mode)) {
		if (!hdr->len)
			return -EINVAL;
		if (hdr->len > ZUFS_MAX_SYMLINK - 1)
			return -ENAMETOOLONG;
		if (!pages_cover(pages, hdr->offset, hdr->len))
			return -EINVAL;
		symlen = hdr->len;
	}

	XattrSwap acls(sbi); // inherited POSIX ACLs, linked by this Tx
	if ((err = acls.new_inode_acls(ni, pages)))
		return err;

	std::unique_lock ns(sbi.ns_lock);
	std::unique_lock dlk(dir->rw);
	zus_inode *dzi = dir->zi;
	if (dzi->i_nlink == 0)
		return -ENOENT; // the directory was removed
	uint64_t slot, existing;
	if (!tmpfile && dir_find(sbi, dir, name, &slot, &existing) == 0)
		return -EEXIST;
	if (is_dir && dzi->i_nlink >= ZUFS_LINK_MAX)
		return -EMLINK;
	uint64_t ino = sbi.icache->alloc_ino();
	if (!ino)
		return -ENOSPC;
	zus_inode *zi = sbi.zi_of(ino);

	Tx tx(sbi);
	uint64_t sym_bn = 0;
	DirAdd plan;
	auto fail = [&](int e) {
		sbi.icache->release_ino(ino);
		return e;
	};
	if ((err = tx.log(zi, sizeof(*zi))))
		return fail(err);
	// New inodes have ZUFS_ZI_EXT: a target of 24 bytes or more goes to
	// a block.
	if (symlen >= kInlineSymlinkMax) {
		if (!(sym_bn = sbi.balloc.alloc_one()))
			return fail(-ENOSPC);
		if ((err = tx.bits(sym_bn, 1, true))) {
			sbi.balloc.release(sym_bn, 1);
			return fail(err);
		}
		char *blk = sbi.blk(sym_bn);
		PageCursor(pages, hdr->offset).copy_out(blk, symlen);
		memset(blk + symlen, 0, kBlockSize - symlen);
		sbi.persist.flush(blk, kBlockSize);
	}
	if (!tmpfile && (err = dir_prepare_add(tx, sbi, dir, name, &plan)))
		return fail(err);
	if (tmpfile && (err = tx.log(dzi, sizeof(*dzi))))
		return fail(err);
	if (acls.pending() && (err = acls.claim(tx)))
		return fail(err);
	// O_TMPFILE: born with no name, an orphan until linked.
	if (tmpfile && (err = sbi.icache->orphans().add(tx, ino)))
		return fail(err);
	if ((err = tx.ready()))
		return err;

	const uint64_t now = now_ns();
	const uint64_t gen = zi->i_generation + 1;
	*zi = zus_inode{};
	zi->i_mode = mode;
	zi->i_nlink = tmpfile ? 0 : (is_dir ? 2 : 1);
	zi->i_uid = ni->zi.i_uid;
	zi->i_gid = ni->zi.i_gid;
	zi->i_atime = zi->i_mtime = zi->i_ctime = now;
	zi->i_generation = gen;
	init_ext(zi, dzi, now);
	if (is_dir) {
		zi->i_dir.parent = dir->ino;
	} else if (S_ISCHR(mode) || S_ISBLK(mode)) {
		zi->i_rdev = ni->zi.i_rdev;
	} else if (S_ISLNK(mode)) {
		zi->i_size = symlen;
		if (sym_bn) {
			zi->i_on_disk.a[0] =
				sym_bn; // height 0: block of index 0
			zi->i_blocks = kBlockSize / 512;
			zi->i_sym_dpp = zu_enc_dpp_t(sym_bn << kBlockShift, 0);
		} else {
			PageCursor(pages, hdr->offset)
				.copy_out(
					reinterpret_cast<char *>(zi->i_symlink),
					symlen);
		}
	}
	acls.apply(zi);
	zi->i_ino = ino; // last: the slot is allocated from here on
	if (!tmpfile) {
		dir_apply_add(sbi, dir, plan, name, ino, dt_of(mode));
		if (is_dir)
			++dzi->i_nlink;
		dzi->i_mtime = dzi->i_ctime = now;
	}
	if ((err = tx.commit(dir)))
		return err;

	zus_inode_info *ii = sbi.icache->get(ino);
	if (!ii)
		return -EIO;
	ni->_zi = zu_enc_dpp_t(sbi.off_of(zi), 0);
	ni->zus_ii = ii;
	return 0;
}

// The IN part of ADD_DENTRY / REMOVE_DENTRY, checked: live cookies, a
// writable mount, a valid name.
static int dentry_args(zufs_ioc_dentry *zd, zus_inode_info **dir,
		       zus_inode_info **ii, std::string_view *name)
{
	int err = 0;
	if (!(*dir = dir_cookie(zd->zus_dir_ii, &err)))
		return err;
	if (!(*ii = ii_cookie(zd->zus_ii, &err)))
		return err;
	if ((*dir)->sbi->ro)
		return -EROFS;
	return check_name(zd->str, name);
}

int op_add_dentry(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *zd = reinterpret_cast<zufs_ioc_dentry *>(hdr);
	zus_inode_info *dir, *ii;
	std::string_view name;
	int err = dentry_args(zd, &dir, &ii, &name);
	if (err)
		return err;
	zus_sb_info &sbi = *dir->sbi;
	if (ii->sbi != &sbi)
		return -EXDEV;
	if (S_ISDIR(ii->zi->i_mode))
		return -EPERM;
	BlockAlloc::Hold hold(sbi.balloc); // a directory block
	tier_room_for_metadata(sbi);

	std::unique_lock ns(sbi.ns_lock);
	InodeLocks locks;
	locks.add(dir);
	locks.add(ii);
	locks.lock();
	if (dir->zi->i_nlink == 0)
		return -ENOENT;
	if (ii->zi->i_nlink >= ZUFS_LINK_MAX)
		return -EMLINK;
	uint64_t slot, existing;
	if (dir_find(sbi, dir, name, &slot, &existing) == 0)
		return -EEXIST;

	Tx tx(sbi);
	DirAdd plan;
	if ((err = tx.log(ii->zi, sizeof(zus_inode))) ||
	    (err = dir_prepare_add(tx, sbi, dir, name, &plan)))
		return err;
	// An O_TMPFILE inode gets its first name: no longer an orphan.
	if (ii->zi->i_nlink == 0 &&
	    (err = sbi.icache->orphans().remove(tx, ii->ino)))
		return err;
	if ((err = tx.ready()))
		return err;
	const uint64_t now = now_ns();
	++ii->zi->i_nlink;
	ii->zi->i_ctime = now;
	dir_apply_add(sbi, dir, plan, name, ii->ino, dt_of(ii->zi->i_mode));
	dir->zi->i_mtime = dir->zi->i_ctime = now;
	return tx.commit(dir);
}

int op_remove_dentry(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *zd = reinterpret_cast<zufs_ioc_dentry *>(hdr);
	zus_inode_info *dir, *ii;
	std::string_view name;
	int err = dentry_args(zd, &dir, &ii, &name);
	if (err)
		return err;
	zus_sb_info &sbi = *dir->sbi;

	std::unique_lock ns(sbi.ns_lock);
	uint64_t slot, ino;
	if (dir_find(sbi, dir, name, &slot, &ino) || ino != ii->ino)
		return -ENOENT;
	const bool is_dir = S_ISDIR(ii->zi->i_mode);
	if (is_dir && !dir_empty(sbi, ii))
		return -ENOTEMPTY;
	InodeLocks locks;
	locks.add(dir);
	locks.add(ii);
	locks.lock();

	Tx tx(sbi);
	if ((err = tx.log(ii->zi, sizeof(zus_inode))) ||
	    (err = dir_prepare_remove(tx, sbi, dir, slot)))
		return err;
	// The last name goes while the shim still holds the inode: an orphan
	// until FREE_INODE frees it.
	if ((is_dir || ii->zi->i_nlink <= 1) &&
	    (err = sbi.icache->orphans().add(tx, ii->ino)))
		return err;
	if ((err = tx.ready()))
		return err;
	const uint64_t now = now_ns();
	dir_apply_remove(sbi, dir, slot);
	if (is_dir) {
		ii->zi->i_nlink = 0;
		if (dir->zi->i_nlink > 2)
			--dir->zi->i_nlink;
	} else if (ii->zi->i_nlink) {
		--ii->zi->i_nlink;
	}
	ii->zi->i_ctime = now;
	dir->zi->i_mtime = dir->zi->i_ctime = now;
	return tx.commit(dir);
}

namespace {

// Is `anc` an ancestor of (or the same as) directory ino `d`? Follows the
// '..' links stored in the inodes, up to the root.
bool is_ancestor(zus_sb_info &sbi, uint64_t anc, uint64_t d)
{
	for (uint64_t i = 0; i < sbi.sb->s_inode_count + 1; ++i) {
		if (d == anc)
			return true;
		if (d == kRootIno || !sbi.valid_ino(d))
			return false;
		d = sbi.zi_of(d)->i_dir.parent;
	}
	return true; // a loop in the tree: refuse
}

} // namespace

int op_rename(zufs_ioc_hdr *hdr, zufs::page_list)
{
	auto *zr = reinterpret_cast<zufs_ioc_rename *>(hdr);
	int err = 0;
	zus_inode_info *odir = dir_cookie(zr->old_dir_ii, &err);
	if (!odir)
		return err;
	zus_inode_info *ndir = dir_cookie(zr->new_dir_ii, &err);
	if (!ndir)
		return err;
	zus_inode_info *src = ii_cookie(zr->old_zus_ii, &err);
	if (!src)
		return err;
	zus_sb_info &sbi = *odir->sbi;
	if (ndir->sbi != &sbi || src->sbi != &sbi)
		return -EXDEV;
	if (sbi.ro)
		return -EROFS;
	if (zr->flags &
	    ~uint64_t(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	const bool noreplace = zr->flags & RENAME_NOREPLACE;
	const bool exchange = zr->flags & RENAME_EXCHANGE;
	const bool whiteout = zr->flags & RENAME_WHITEOUT;
	if (exchange && (noreplace || whiteout))
		return -EINVAL;
	BlockAlloc::Hold hold(sbi.balloc); // a directory block
	tier_room_for_metadata(sbi);
	std::string_view oname, nname;
	if ((err = check_name(zr->old_d_str, &oname)) ||
	    (err = check_name(zr->new_d_str, &nname)))
		return err;

	std::unique_lock ns(sbi.ns_lock);
	uint64_t oslot, oino, nslot = 0, nino = 0;
	if (dir_find(sbi, odir, oname, &oslot, &oino) || oino != src->ino)
		return -ENOENT;
	const bool target_exists =
		dir_find(sbi, ndir, nname, &nslot, &nino) == 0;
	if (zr->new_zus_ii) {
		zus_inode_info *t = ii_cookie(zr->new_zus_ii, &err);
		if (!t)
			return err;
		if (!target_exists || t->ino != nino)
			return -ENOENT;
	}
	if (target_exists && noreplace)
		return -EEXIST;
	if (!target_exists && exchange)
		return -ENOENT;
	if (target_exists && nino == oino)
		return 0; // two names of one inode: nothing to do
	if (odir->zi->i_nlink == 0 || ndir->zi->i_nlink == 0)
		return -ENOENT;

	InodeRef tref(sbi, target_exists ? nino : 0);
	zus_inode_info *tgt = tref.ii;
	if (target_exists && !tgt)
		return -EIO;
	const bool src_dir = S_ISDIR(src->zi->i_mode);
	const bool tgt_dir = tgt && S_ISDIR(tgt->zi->i_mode);
	const bool moves = odir != ndir;

	// A directory may not move below itself.
	if (src_dir && moves && is_ancestor(sbi, src->ino, ndir->ino))
		return -EINVAL;
	if (exchange && tgt_dir && moves &&
	    is_ancestor(sbi, tgt->ino, odir->ino))
		return -EINVAL;
	if (!exchange && tgt) {
		if (src_dir && !tgt_dir)
			return -ENOTDIR;
		if (!src_dir && tgt_dir)
			return -EISDIR;
		if (tgt_dir && !dir_empty(sbi, tgt))
			return -ENOTEMPTY;
	}
	if (moves && !exchange && src_dir && !tgt_dir &&
	    ndir->zi->i_nlink >= ZUFS_LINK_MAX)
		return -EMLINK;

	InodeLocks locks;
	locks.add(odir);
	locks.add(ndir);
	locks.add(src);
	locks.add(tgt);
	locks.lock();

	// RENAME_WHITEOUT (overlayfs): the old name is left pointing at a new
	// whiteout, a character device 0/0, in the rename's transaction.
	uint64_t wino = 0;
	if (whiteout && !(wino = sbi.icache->alloc_ino()))
		return -ENOSPC;
	auto fail = [&](int e) {
		if (wino)
			sbi.icache->release_ino(wino);
		return e;
	};
	zus_inode *wzi = wino ? sbi.zi_of(wino) : nullptr;

	Tx tx(sbi);
	DirAdd plan;
	if (wzi && (err = tx.log(wzi, sizeof(*wzi))))
		return fail(err);
	if ((err = tx.log(src->zi, sizeof(zus_inode))) ||
	    (tgt && (err = tx.log(tgt->zi, sizeof(zus_inode)))) ||
	    (err = tx.log(odir->zi, sizeof(zus_inode))) ||
	    (err = tx.log(ndir->zi, sizeof(zus_inode))))
		return fail(err);
	if (exchange) {
		if ((err = dir_prepare_retarget(tx, sbi, odir, oslot)) ||
		    (err = dir_prepare_retarget(tx, sbi, ndir, nslot)))
			return fail(err);
	} else {
		if (whiteout)
			err = dir_prepare_retarget(tx, sbi, odir, oslot);
		else
			err = dir_prepare_remove(tx, sbi, odir, oslot);
		if (err)
			return fail(err);
		if (tgt)
			err = dir_prepare_retarget(tx, sbi, ndir, nslot);
		else
			err = dir_prepare_add(tx, sbi, ndir, nname, &plan);
		if (err)
			return fail(err);
		// The replaced inode's last name: an orphan until freed.
		if (tgt && (tgt_dir || tgt->zi->i_nlink <= 1) &&
		    (err = sbi.icache->orphans().add(tx, tgt->ino)))
			return fail(err);
	}
	if ((err = tx.ready()))
		return err;

	const uint64_t now = now_ns();
	zus_inode *szi = src->zi, *ozi = odir->zi, *nzi = ndir->zi;
	if (exchange) {
		dir_apply_retarget(sbi, odir, oslot, tgt->ino,
				   dt_of(tgt->zi->i_mode));
		dir_apply_retarget(sbi, ndir, nslot, src->ino,
				   dt_of(szi->i_mode));
		if (moves) {
			if (src_dir) {
				szi->i_dir.parent = ndir->ino;
				--ozi->i_nlink;
				++nzi->i_nlink;
			}
			if (tgt_dir) {
				tgt->zi->i_dir.parent = odir->ino;
				--nzi->i_nlink;
				++ozi->i_nlink;
			}
		}
		tgt->zi->i_ctime = now;
	} else {
		if (wzi) { // owned by the caller, as ext4's
			const uint64_t gen = wzi->i_generation + 1;
			*wzi = zus_inode{};
			wzi->i_mode = S_IFCHR;
			wzi->i_nlink = 1;
			wzi->i_uid = zr->uid;
			wzi->i_gid = zr->gid;
			wzi->i_rdev = 0; // WHITEOUT_DEV
			wzi->i_atime = wzi->i_mtime = wzi->i_ctime = now;
			wzi->i_generation = gen;
			init_ext(wzi, ozi, now);
			wzi->i_ino = wino; // last: allocated from here on
			dir_apply_retarget(sbi, odir, oslot, wino, DT_CHR);
		} else {
			dir_apply_remove(sbi, odir, oslot);
		}
		if (tgt) {
			dir_apply_retarget(sbi, ndir, nslot, src->ino,
					   dt_of(szi->i_mode));
			if (tgt_dir) {
				tgt->zi->i_nlink = 0;
				--nzi->i_nlink; // the replaced directory's '..'
			} else if (tgt->zi->i_nlink) {
				--tgt->zi->i_nlink;
			}
			tgt->zi->i_ctime = now;
		} else {
			dir_apply_add(sbi, ndir, plan, nname, src->ino,
				      dt_of(szi->i_mode));
		}
		if (src_dir && moves) {
			szi->i_dir.parent = ndir->ino;
			--ozi->i_nlink;
			++nzi->i_nlink;
		}
	}
	szi->i_ctime = now;
	ozi->i_mtime = ozi->i_ctime = now;
	nzi->i_mtime = nzi->i_ctime = now;
	if ((err = tx.commit(ndir)))
		return err;
	// An unreferenced target whose last name went is freed by tref.
	return 0;
}

} // namespace zus::pmfs
