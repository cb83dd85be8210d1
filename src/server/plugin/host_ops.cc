// SPDX-License-Identifier: BSD-3-Clause
//
// host_ops.cc - PluginMount's handlers: zufuse's zus-vfs.c. One zufuse
// message in, the seed's plugin call out, the answer checked and
// translated back.
#include <fcntl.h>
#include <libpmem.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "server/plugin/host_mount.h"

namespace zus::plugin {

namespace {

// [offset, offset + len) of a request's pages as one buffer: the pages
// themselves when they are consecutive (the FUSE buffers are), else a
// per-thread bounce buffer copied in and out.
class AppBuf {
  public:
	AppBuf(zufs::page_list pages, uint32_t offset, uint32_t len)
	    : pages_(pages), offset_(offset), len_(len)
	{
		size_t need = (size_t(offset) + len + PAGE_SIZE - 1) / PAGE_SIZE;
		if (!len) {
			static thread_local char empty[8];
			ptr_ = empty;
			return;
		}
		if (need > pages.size())
			return;
		bool contiguous = true;
		for (size_t i = 0; i < need; ++i) {
			if (!pages[i])
				return;
			if (i && static_cast<char *>(pages[i]) !=
					 static_cast<char *>(pages[i - 1]) + PAGE_SIZE)
				contiguous = false;
		}
		if (contiguous) {
			ptr_ = static_cast<char *>(pages[0]) + offset;
			return;
		}
		static thread_local std::vector<char> bounce;
		bounce.resize(len);
		ptr_ = bounce.data();
		bounced_ = true;
	}
	char *ptr() const { return ptr_; }
	// bounce: the request's bytes into / out of the buffer
	void copy_in()
	{
		if (bounced_)
			walk([](char *buf, char *page, size_t n) { std::memcpy(buf, page, n); });
	}
	void copy_out()
	{
		if (bounced_)
			walk([](char *buf, char *page, size_t n) { std::memcpy(page, buf, n); });
	}

  private:
	template <typename Fn> void walk(Fn fn)
	{
		size_t done = 0, idx = offset_ / PAGE_SIZE, off = offset_ % PAGE_SIZE;
		while (done < len_) {
			size_t n = std::min<size_t>(PAGE_SIZE - off, len_ - done);
			fn(ptr_ + done, static_cast<char *>(pages_[idx]) + off, n);
			done += n;
			off = 0;
			++idx;
		}
	}
	zufs::page_list pages_;
	uint32_t offset_, len_;
	char *ptr_ = nullptr;
	bool bounced_ = false;
};

const char *xattr_prefix(unsigned type)
{
	switch (type) {
	case ZUFS_XF_SECURITY:
		return "security.";
	case ZUFS_XF_SYSTEM:
		return "system.";
	case ZUFS_XF_TRUSTED:
		return "trusted.";
	case ZUFS_XF_USER:
		return "user.";
	default:
		return nullptr;
	}
}

} // namespace

int PluginMount::statfs(zufs_ioc_statfs *ioc)
{
	if (!sbi_->op->statfs)
		return -EOPNOTSUPP;
	zufs_ioc_statfs s = *ioc;
	s.zus_sbi = sbi_;
	int err = sane(sbi_->op->statfs(sbi_, &s), "statfs");
	if (!err)
		ioc->statfs_out = s.statfs_out;
	return err;
}

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
	HostInode *h = wrap(zii);
	ioc->zus_ii = reinterpret_cast<zus_inode_info *>(h);
	ioc->_zi = offset_of(zii->zi);
	return 0;
}

// FREE_INODE (last reference, no links) and EVICT_INODE (last reference,
// or ZI_LOOKUP_RACE: the duplicate of a racing lookup): as zus, the one
// calls sbi->op->free_inode, the other zii->op->evict.
int PluginMount::evict(zufs_ioc_evict_inode *ioc, bool free)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return 0;
	if (h == root_)
		return 0; // the mount's
	zus_inode_info *zii = h->zii;
	delete h;
	if (free) {
		if (sbi_->op->free_inode)
			sbi_->op->free_inode(zii);
		return 0;
	}
	if (!(ioc->flags & ZI_LOOKUP_RACE) && zii->zi->i_nlink) {
		std::lock_guard lk(parked_mu_);
		if (parked_.emplace(zii->zi->i_ino, zii).second)
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
	zus_inode_info *zii = unpark(ino);
	if (!zii)
		zii = zus_iget(sbi_, ino);
	if (!zii)
		return -ENOENT;
	if (!zii_ok(zii) || zii->zi->i_ino != ino) {
		// Not given back: evict() of a zii this broken may crash.
		char line[96];
		snprintf(line, sizeof(line),
			 "iget(%lu) answered an inode outside pmem or of "
			 "another ino", ino);
		return bad(line);
	}
	ioc->zus_ii = reinterpret_cast<zus_inode_info *>(wrap(zii));
	ioc->_zi = offset_of(zii->zi);
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
	int err = add ? sane(sbi_->op->add_dentry(dir->zii, h->zii, &ioc->str),
			     "add_dentry")
		      : sane(sbi_->op->remove_dentry(dir->zii, h->zii, &ioc->str),
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
			zde->ino = len == 1 || dir == root_ ? dir->zii->zi->i_ino
							  : dir->zii->zi->i_dir.parent;
		if (off + E_ZDE_HDR_SIZE + len > end || !zde->ino ||
		    memchr(zde->zstr.name, '/', len) ||
		    memchr(zde->zstr.name, 0, len))
			return bad("readdir answered a malformed record");
		if (prev != UINT32_MAX) {
			auto *p = reinterpret_cast<zufs_dir_entry *>(buf + prev);
			if (zde->pos < p->pos)
				return bad("readdir answered positions going back");
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
			return bad("readdir answered a pos that does not advance");
		p->pos = out;
	}
	if (r.more && !n)
		return bad("readdir answered more with no entry");
	app.copy_out();
	ioc->pos = out;
	ioc->more = r.more;
	return 0;
}

// READ (shared) and WRITE (exclusive): the application's bytes at app_ptr;
// last_pos must stay inside [filepos, filepos + len]. A write moves
// mtime and ctime, as file_update_time() did.
int PluginMount::io(zufs_ioc_IO *ioc, zufs::page_list pages, bool write)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	auto fn = write ? h->zii->op->write : h->zii->op->read;
	if (!fn)
		return -EOPNOTSUPP;
	AppBuf app(pages, ioc->hdr.offset, ioc->hdr.len);
	if (!app.ptr())
		return -EINVAL;
	zufs_ioc_IO r;
	std::memcpy(&r, ioc, sizeof(r));
	r.zus_ii = h->zii;
	r.last_pos = ioc->filepos;
	int err;
	if (write) {
		app.copy_in();
		std::unique_lock lk(h->rw);
		err = sane(fn(app.ptr(), &r), "write");
		if (r.last_pos > ioc->filepos)
			touch(h->zii->zi, true);
	} else {
		std::shared_lock lk(h->rw);
		err = sane(fn(app.ptr(), &r), "read");
	}
	if (r.last_pos < ioc->filepos ||
	    r.last_pos - ioc->filepos > ioc->hdr.len) {
		ioc->last_pos = ioc->filepos;
		return bad(write ? "write answered a last_pos outside the I/O"
				 : "read answered a last_pos outside the I/O");
	}
	if (!write)
		app.copy_out();
	ioc->last_pos = r.last_pos;
	if (write)
		ioc->wr_unmap = r.wr_unmap;
	else
		ioc->ra = r.ra;
	// An iomap the plugin answered (or -EZUFS_RETRY's): the shim checks
	// and executes it (iom_max stays the shim's).
	ioc->ziom.iom_n = r.ziom.iom_n;
	std::memcpy(ioc->iom_e, r.iom_e, sizeof(r.iom_e));
	return err;
}

// zufuse's GET_MULTY (the pages of [filepos, filepos + len)) as the seed's
// GET_BLOCK, one page at a time; each block number checked against T1.
// Without get_block, or when it answers -ENOTSUP (toyfs for what is not a
// regular file): ZUFS_GBF_READ, the shim reads by copy (READ).
int PluginMount::get_multy(zufs_ioc_IO *ioc)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	const uint64_t filepos = ioc->filepos, end = filepos + ioc->hdr.len;
	ioc->last_pos = filepos;
	ioc->ziom.iom_n = 0;
	ioc->gp_block.ret_flags = 0;
	auto get = h->zii->op->get_block;
	if (!get || !ioc->hdr.len) {
		ioc->gp_block.ret_flags = ZUFS_GBF_READ;
		return 0;
	}
	const uint64_t first = filepos / PAGE_SIZE;
	const uint64_t blocks = md_t1_blocks(&sbi_->md);
	uint32_t n = 0;
	std::shared_lock lk(h->rw);
	for (uint64_t pos = first * PAGE_SIZE; pos < end; pos += PAGE_SIZE) {
		if (n >= ioc->ziom.iom_max)
			break;
		zufs_ioc_IO g;
		std::memcpy(&g, ioc, sizeof(g));
		g.zus_ii = h->zii;
		g.filepos = pos;
		g.gp_block.rw = 0;
		g.gp_block.pmem_bn = 0;
		int err = sane(get(h->zii, &g), "get_block");
		if (!err && g.gp_block.pmem_bn >= blocks)
			err = bad("get_block answered a block outside T1");
		if ((err == -ENOTSUP || err == -EOPNOTSUPP) && !n) {
			ioc->gp_block.ret_flags = ZUFS_GBF_READ; // copy it
			return 0;
		}
		if (err) {
			if (!n)
				return err;
			break;
		}
		_zufs_iom_enc_type_val(&ioc->iom_e[n], IOM_T1_READ,
				       zu_enc_dpp_t_bn(g.gp_block.pmem_bn, 0));
		++n;
		ioc->last_pos = std::min(end, pos + PAGE_SIZE);
	}
	ioc->ziom.iom_n = n;
	return 0;
}

int PluginMount::put_multy(zufs_ioc_IO *ioc)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	auto put = h->zii->op->put_block;
	uint32_t n = std::min(ioc->ziom.iom_n, ioc->ziom.iom_max);
	if (!put)
		return 0;
	const uint64_t first = ioc->filepos / PAGE_SIZE;
	for (uint32_t i = 0; i < n; ++i) {
		uint64_t bn = zu_dpp_t_bn(_zufs_iom_first_val(&ioc->iom_e[i]));
		if (!bn)
			continue;
		zufs_ioc_IO g;
		std::memcpy(&g, ioc, sizeof(g));
		g.zus_ii = h->zii;
		g.filepos = (first + i) * PAGE_SIZE;
		g.gp_block.pmem_bn = bn;
		g.gp_block.rw = 0;
		sane(put(h->zii, &g), "put_block");
	}
	return 0;
}

// zuf wrote the new attributes into the zus_inode, ctime always, mtime
// too on a truncate, then asked the plugin to make them (and the size)
// so: setattr(zii, STATX bits, truncate_size).
int PluginMount::setattr(zufs_ioc_attr *ioc)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	std::unique_lock lk(h->rw);
	zus_inode *zi = h->zii->zi;
	uint32_t mask = ioc->zuf_attr;
	uint64_t t = now_ns();
	zus_inode saved = *zi;
	if (mask & STATX_MODE)
		zi->i_mode = (zi->i_mode & S_IFMT) | (ioc->mode & 07777);
	if (mask & STATX_UID)
		zi->i_uid = ioc->uid;
	if (mask & STATX_GID)
		zi->i_gid = ioc->gid;
	if (mask & STATX_ATIME)
		zi->i_atime = ioc->atime;
	if (mask & STATX_MTIME)
		zi->i_mtime = ioc->mtime;
	else if (mask & STATX_SIZE)
		zi->i_mtime = t;
	zi->i_ctime = t;
	if (h->zii->op->setattr) {
		int err = sane(h->zii->op->setattr(h->zii, mask | STATX_CTIME,
						   ioc->size),
			       "setattr");
		if (err) {
			*zi = saved;
			return err;
		}
	} else if (mask & STATX_SIZE) {
		*zi = saved;
		return -EOPNOTSUPP;
	}
	if (mask & STATX_SIZE) {
		if (zi->i_size != ioc->size)
			return bad("setattr left i_size not at the truncate size");
		ioc->unmap_offset = ioc->size;
		ioc->unmap_len = ~0ULL;
	}
	return 0;
}

// The whole file system: the mapping.
int PluginMount::sync_fs()
{
	if (!is_pmem_)
		pmem_msync(base_, t1_len_);
	return 0;
}

int PluginMount::sync(zufs_ioc_sync *ioc)
{
	ioc->write_unmapped = 0;
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return sync_fs();
	if (!h->zii->op->sync)
		return 0;
	zufs_ioc_range r = {};
	r.hdr = ioc->hdr;
	r.zus_ii = h->zii;
	r.offset = ioc->offset;
	r.length = ioc->length;
	r.opflags = uint32_t(ioc->flags);
	int err = sane(h->zii->op->sync(h->zii, &r), "sync");
	if (!err && !is_pmem_)
		pmem_msync(base_, t1_len_);
	return err;
}

// zufuse's FALLOCATE (an IO message: filepos, last_pos = end, flags =
// mode) as the seed's zufs_ioc_range.
int PluginMount::fallocate(zufs_ioc_IO *ioc)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	if (!h->zii->op->fallocate)
		return -EOPNOTSUPP;
	if (ioc->last_pos < ioc->filepos)
		return -EINVAL;
	zufs_ioc_range r = {};
	r.hdr = ioc->hdr;
	r.zus_ii = h->zii;
	r.offset = ioc->filepos;
	r.length = ioc->last_pos - ioc->filepos;
	r.opflags = uint32_t(ioc->flags);
	std::unique_lock lk(h->rw);
	int err = sane(h->zii->op->fallocate(h->zii, &r), "fallocate");
	ioc->wr_unmap = {};
	if (err)
		return err;
	touch(h->zii->zi, true);
	if (ioc->flags & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) {
		uint64_t first = ioc->filepos / PAGE_SIZE;
		uint64_t last = (ioc->last_pos + PAGE_SIZE - 1) / PAGE_SIZE;
		if (last - first <= UINT32_MAX && first <= UINT32_MAX) {
			ioc->wr_unmap.offset = uint32_t(first);
			ioc->wr_unmap.len = uint32_t(last - first);
		}
	}
	return 0;
}

// SEEK_DATA / SEEK_HOLE. A seed plugin may leave offset_out at -1 for
// "none": no data is -ENXIO, no hole before EOF is EOF.
int PluginMount::seek(zufs_ioc_seek *ioc)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	if (!h->zii->op->seek)
		return -EOPNOTSUPP;
	zufs_ioc_seek s = *ioc;
	s.zus_ii = h->zii;
	std::shared_lock lk(h->rw);
	uint64_t size = h->zii->zi->i_size;
	if (ioc->offset_in >= size)
		return -ENXIO;
	int err = sane(h->zii->op->seek(h->zii, &s), "seek");
	if (err)
		return err;
	if (s.offset_out == ~0ULL) {
		if (ioc->whence == SEEK_DATA)
			return -ENXIO;
		s.offset_out = size;
	}
	if (s.offset_out < ioc->offset_in || s.offset_out > size)
		return bad("seek answered an offset outside [offset, i_size]");
	ioc->offset_out = s.offset_out;
	return 0;
}

// zufuse's xattr message (name apart, value in the pages) as the seed's
// (the full name and the value in one buffer after the header).
int PluginMount::xattr(zufs_ioc_xattr *ioc, zufs::page_list pages)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	const uint16_t op = ioc->hdr.operation;
	auto fn = op == ZUFS_OP_XATTR_GET   ? h->zii->op->getxattr
		  : op == ZUFS_OP_XATTR_SET ? h->zii->op->setxattr
					    : h->zii->op->listxattr;
	if (!fn)
		return -EOPNOTSUPP;
	std::string name;
	if (op != ZUFS_OP_XATTR_LIST) {
		const char *prefix = xattr_prefix(ioc->type);
		if (!prefix || !ioc->name_len)
			return -EINVAL;
		if (ioc->type == ZUFS_XF_SYSTEM)
			return -EOPNOTSUPP; // no ACLs through a plugin
		name = std::string(prefix) +
		       std::string(ioc->name, strnlen(ioc->name, ioc->name_len));
		if (name.size() > 255)
			return -ERANGE;
	}
	AppBuf app(pages, ioc->hdr.offset, ioc->hdr.len);
	if (!app.ptr())
		return -EINVAL;
	const uint32_t room = ioc->hdr.len;
	std::vector<uint64_t> buf((sizeof(zus_seed_zufs_ioc_xattr) +
				   name.size() + 1 + room + 7) / 8 + 1);
	auto *x = reinterpret_cast<zus_seed_zufs_ioc_xattr *>(buf.data());
	x->hdr = ioc->hdr;
	x->hdr.out_len = sizeof(*x);
	x->zus_ii = h->zii;
	x->type = ioc->type;
	x->name_len = uint16_t(name.size() + 1);
	std::memcpy(x->buf, name.c_str(), name.size() + 1);
	if (op == ZUFS_OP_XATTR_SET) {
		x->flags = ioc->user_flags & (XATTR_CREATE | XATTR_REPLACE);
		if (!(ioc->user_flags & ZUFS_XATTR_REMOVE)) {
			app.copy_in();
			std::memcpy(x->buf + x->name_len, app.ptr(), room);
			x->user_buf_size = room;
			if (!room)
				x->ioc_flags = ZUFS_XATTR_SET_EMPTY;
		}
		std::unique_lock lk(h->rw);
		int err = sane(fn(h->zii, x), "setxattr");
		if (!err)
			touch(h->zii->zi, false);
		return err;
	}
	x->user_buf_size = room;
	int err;
	{
		std::shared_lock lk(h->rw);
		err = sane(fn(h->zii, x), op == ZUFS_OP_XATTR_GET ? "getxattr"
								  : "listxattr");
	}
	if (err)
		return err;
	uint32_t size = x->user_buf_size;
	if (size > 65536 || (room && size > room))
		return bad("xattr answered a size larger than asked");
	ioc->value_size = size;
	if (room) {
		std::memcpy(app.ptr(), x->buf, size);
		app.copy_out();
		ioc->hdr.len = size;
	}
	return 0;
}

} // namespace zus::plugin
