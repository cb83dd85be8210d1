// SPDX-License-Identifier: BSD-3-Clause
//
// host_namei.cc - the seed door's inodes and names (zufuse's zus-vfs.c):
// new_inode, evict/free_inode, lookup, add/remove_dentry, rename, readdir.
// One zufuse message in, the seed's call out under the VFS's locks, the
// times zuf kept written, the answer checked and translated back.
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "server/plugin/app_buf.h"

namespace zus::plugin {

// zus-vfs.c's _new_inode, with zuf's part: the new zus_inode's times, a
// symlink's target in it (short) or at app_ptr (long), the parent's times.
int PluginMount::new_inode(zufs_ioc_new_inode *ioc, zufs::page_list pages)
{
	HostInode *dir = hi(ioc->dir_ii);
	if (!dir || ioc->acl_access_len || ioc->acl_default_len)
		return -EINVAL;
	zufs_ioc_new_inode n = *ioc;
	n.dir_ii = dir->zii;
	n.zi.i_nlink = 0; // the ZUS protocol: add_dentry gives the first
	uint64_t t = now_ns();
	n.zi.i_atime = n.zi.i_mtime = n.zi.i_ctime = t;
	AppBuf app(pages, ioc->hdr.offset, ioc->hdr.len);
	if (S_ISLNK(n.zi.i_mode)) {
		if (!app.ptr() || !ioc->hdr.len || ioc->hdr.len >= PAGE_SIZE)
			return -EINVAL;
		app.copy_in();
		n.zi.i_size = ioc->hdr.len;
		if (ioc->hdr.len < sizeof(n.zi.i_symlink))
			std::memcpy(n.zi.i_symlink, app.ptr(), ioc->hdr.len);
	}

	std::unique_lock lk(dir->rw);
	zus_inode_info *zii = sbi_->op->new_inode(sbi_, app.ptr(), &n);
	if (!zii)
		return -EINVAL; // as zus: the plugin said no more
	if (!zii_ok(zii)) {
		sbi_->op->free_inode(zii);
		return bad("new_inode answered an inode outside pmem");
	}
	if (cached(zii->zi->i_ino)) {
		// Not freed: its zus_inode may be the live one's.
		if (zii->op->evict)
			zii->op->evict(zii);
		return bad("new_inode answered the ino of a live inode");
	}
	if (!(n.flags & ZI_TMPFILE)) {
		int err = sane(sbi_->op->add_dentry(dir->zii, zii, &n.str),
			       "add_dentry");
		if (err) {
			zii->zi->i_nlink = 0;
			sbi_->op->free_inode(zii);
			return err;
		}
		touch(dir->zii->zi, true, t);
	}
	zus_inode_info *dup;
	HostInode *h = adopt(zii, &dup);
	if (dup && dup->op->evict)
		dup->op->evict(dup);
	ioc->zus_ii = reinterpret_cast<zus_inode_info *>(h);
	ioc->_zi = offset_of(h->zii->zi);
	return 0;
}

HostInode *PluginMount::adopt(zus_inode_info *zii, zus_inode_info **dup)
{
	*dup = nullptr;
	std::lock_guard lk(icache_mu_);
	auto [it, fresh] =
		icache_.try_emplace(zii->zi->i_ino, Cached{ nullptr, 1 });
	if (fresh) {
		it->second.h = wrap(zii);
		return it->second.h;
	}
	++it->second.refs;
	if (it->second.h->zii != zii)
		*dup = zii;
	return it->second.h;
}

bool PluginMount::give_back(HostInode *h, bool park)
{
	std::lock_guard lk(icache_mu_);
	auto it = icache_.find(h->ino);
	if (it == icache_.end() || it->second.h != h)
		return true; // never cached
	if (it->second.refs > 1 || h == root_) {
		// a duplicate answer (the root keeps the mount's reference)
		if (it->second.refs > 1)
			--it->second.refs;
		return false;
	}
	if (park) {
		it->second.refs = 0;
		return false;
	}
	icache_.erase(it);
	return true;
}

// FREE_INODE (last reference, no links) and EVICT_INODE (last reference,
// or ZI_LOOKUP_RACE: the shim's duplicate of a cookie it holds): one
// answer given back; at the last, as zus, the one calls
// sbi->op->free_inode, the other parks a linked inode or zii->op->evict.
int PluginMount::evict(zufs_ioc_evict_inode *ioc, bool free)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return 0;
	zus_inode_info *zii = h->zii;
	bool park = !free && !(ioc->flags & ZI_LOOKUP_RACE) && zii->zi->i_nlink;
	if (!give_back(h, park))
		return 0;
	delete h;
	if (free) {
		if (sbi_->op->free_inode)
			sbi_->op->free_inode(zii);
		return 0;
	}
	if (zii->op->evict)
		zii->op->evict(zii);
	return 0;
}

int PluginMount::lookup(zufs_ioc_lookup *ioc)
{
	HostInode *dir = hi(ioc->dir_ii);
	zufs_str *str = &ioc->str;
	if (!dir || !str->len)
		return -EINVAL;
	std::shared_lock lk(dir->rw);
	zus_inode *dzi = dir->zii->zi;
	unsigned long ino;
	if (str->len == 1 && str->name[0] == '.')
		ino = dzi->i_ino;
	else if (str->len == 2 && str->name[0] == '.' && str->name[1] == '.')
		ino = dzi->i_dir.parent;
	else
		ino = sbi_->op->lookup(dir->zii, str);
	if (!ino)
		return -ENOENT;
	HostInode *h = hold(ino); // cached: no iget (zuf's icache hit)
	if (!h) {
		zus_inode_info *zii = zus_iget(sbi_, ino);
		if (!zii)
			return -ENOENT;
		if (!zii_ok(zii) || zii->zi->i_ino != ino) {
			// Not given back: evict() of a zii this broken may crash.
			char line[96];
			snprintf(line, sizeof(line),
				 "iget(%lu) answered an inode outside pmem or "
				 "of another ino",
				 ino);
			return bad(line);
		}
		zus_inode_info *dup;
		h = adopt(zii, &dup);
		if (dup && dup->op->evict)
			dup->op->evict(dup); // a racing lookup got there first
	}
	ioc->zus_ii = reinterpret_cast<zus_inode_info *>(h);
	ioc->_zi = offset_of(h->zii->zi);
	return 0;
}

// link(2) (ADD) and unlink/rmdir (REMOVE): the directory and the inode
// locked as the VFS does, their times as zuf kept them.
int PluginMount::dentry(zufs_ioc_dentry *ioc, bool add)
{
	HostInode *dir = hi(ioc->zus_dir_ii), *h = hi(ioc->zus_ii);
	if (!dir || !h || dir == h)
		return -EINVAL;
	std::unique_lock dl(dir->rw);
	std::unique_lock il(h->rw);
	int err =
		add ? sane(sbi_->op->add_dentry(dir->zii, h->zii, &ioc->str),
			   "add_dentry") :
		      sane(sbi_->op->remove_dentry(dir->zii, h->zii, &ioc->str),
			   "remove_dentry");
	if (err)
		return err;
	uint64_t t = now_ns();
	touch(dir->zii->zi, true, t);
	touch(h->zii->zi, false, t);
	return 0;
}

// The rename lock, then both directories (in address order) and the
// inodes. A replaced target loses its name first (REMOVE_DENTRY): the
// seed's file systems add the new name only where there is none.
int PluginMount::rename(zufs_ioc_rename *ioc)
{
	HostInode *od = hi(ioc->old_dir_ii), *nd = hi(ioc->new_dir_ii);
	HostInode *oi = hi(ioc->old_zus_ii), *ni = hi(ioc->new_zus_ii);
	if (!od || !nd || !oi)
		return -EINVAL;
	if (!sbi_->op->rename)
		return -EOPNOTSUPP;
	if (ioc->flags & RENAME_EXCHANGE)
		return -EINVAL; // the seed's plugins do not exchange
	std::lock_guard rl(rename_mu_);
	HostInode *first = od < nd ? od : nd, *second = od < nd ? nd : od;
	std::unique_lock l1(first->rw);
	std::unique_lock<std::shared_mutex> l2;
	if (second != first)
		l2 = std::unique_lock(second->rw);
	std::unique_lock<std::shared_mutex> l3, l4;
	if (oi != od && oi != nd)
		l3 = std::unique_lock(oi->rw);
	if (ni && ni != oi && ni != od && ni != nd)
		l4 = std::unique_lock(ni->rw);

	uint64_t t = ioc->time ? ioc->time : now_ns();
	if (ni && !(ioc->flags & RENAME_NOREPLACE)) {
		int err = sane(sbi_->op->remove_dentry(nd->zii, ni->zii,
						       &ioc->new_d_str),
			       "remove_dentry");
		if (err)
			return err;
		touch(ni->zii->zi, false, t);
	}
	zufs_ioc_rename r = *ioc;
	r.old_dir_ii = od->zii;
	r.new_dir_ii = nd->zii;
	r.old_zus_ii = oi->zii;
	r.new_zus_ii = nullptr;
	r.flags = 0;
	int err = sane(sbi_->op->rename(&r), "rename");
	if (err)
		return err;
	touch(od->zii->zi, true, t);
	touch(nd->zii->zi, true, t);
	touch(oi->zii->zi, false, t);
	return 0;
}

// zufuse's records carry the cookie that resumes after each entry; a seed
// plugin writes each entry's own position and the next one in zir->pos
// (zuf's readdir). Records are checked, then their positions shifted.
int PluginMount::readdir(zufs_ioc_readdir *ioc, zufs::page_list pages)
{
	HostInode *dir = hi(ioc->dir_ii);
	if (!dir)
		return -EINVAL;
	if (!sbi_->op->readdir)
		return -EOPNOTSUPP;
	AppBuf app(pages, ioc->hdr.offset, ioc->hdr.len);
	if (!app.ptr())
		return -EINVAL;
	zufs_ioc_readdir r = *ioc;
	r.dir_ii = dir->zii;
	std::memset(app.ptr(), 0, ioc->hdr.len);
	{
		std::shared_lock lk(dir->rw);
		int err = sane(sbi_->op->readdir(app.ptr(), &r), "readdir");
		if (err)
			return err;
	}
	char *buf = app.ptr();
	uint32_t end = ioc->hdr.len, off = 0, prev = UINT32_MAX;
	unsigned n = 0;
	while (off + E_ZDE_HDR_SIZE <= end) {
		auto *zde = reinterpret_cast<zufs_dir_entry *>(buf + off);
		uint8_t len = zde->zstr.len;
		if (!len)
			break;
		uint32_t next = off + zufs_dir_entry_len(len);
		// "." and "..": zuf's (the root's ".." is itself)
		if (len <= 2 && zde->zstr.name[0] == '.' &&
		    (len == 1 || zde->zstr.name[1] == '.') && !zde->ino)
			zde->ino = len == 1 || dir == root_ ?
					   dir->zii->zi->i_ino :
					   dir->zii->zi->i_dir.parent;
		if (off + E_ZDE_HDR_SIZE + len > end || !zde->ino ||
		    memchr(zde->zstr.name, '/', len) ||
		    memchr(zde->zstr.name, 0, len))
			return bad("readdir answered a malformed record");
		if (prev != UINT32_MAX) {
			auto *p =
				reinterpret_cast<zufs_dir_entry *>(buf + prev);
			if (zde->pos < p->pos)
				return bad(
					"readdir answered positions going back");
			p->pos = zde->pos;
		}
		prev = off;
		++n;
		off = next;
	}
	uint64_t out = uint64_t(r.pos);
	if (prev != UINT32_MAX) {
		auto *p = reinterpret_cast<zufs_dir_entry *>(buf + prev);
		if (out <= p->pos)
			return bad(
				"readdir answered a pos that does not advance");
		p->pos = out;
	}
	if (r.more && !n)
		return bad("readdir answered more with no entry");
	app.copy_out();
	ioc->pos = out;
	ioc->more = r.more;
	return 0;
}

} // namespace zus::plugin
