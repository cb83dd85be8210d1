// SPDX-License-Identifier: BSD-3-Clause
//
// host_file.cc - the seed door's data and attributes (zufuse's
// zus-vfs.c): read/write, GET/PUT_MULTY as get_block/put_block, setattr
// and truncate, sync, fallocate, SEEK_DATA/SEEK_HOLE.
#include <fcntl.h>
#include <libpmem.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/plugin/app_buf.h"
#include "zufs/iom_enc.h"

namespace zus::plugin {

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
		return bad(write ? "write answered a last_pos outside the I/O" :
				   "read answered a last_pos outside the I/O");
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
	zufs::IomBuilder iom(ioc->ziom); // the k-th T1_READ: page k
	std::shared_lock lk(h->rw);
	for (uint64_t pos = first * PAGE_SIZE; pos < end; pos += PAGE_SIZE) {
		if (!iom.room())
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
		if ((err == -ENOTSUP || err == -EOPNOTSUPP) && !iom.size()) {
			ioc->gp_block.ret_flags = ZUFS_GBF_READ; // copy it
			return 0;
		}
		if (err) {
			if (!iom.size())
				return err;
			break;
		}
		iom.t1_read(zu_enc_dpp_t_bn(g.gp_block.pmem_bn, 0));
		ioc->last_pos = std::min(end, pos + PAGE_SIZE);
	}
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
			return bad(
				"setattr left i_size not at the truncate size");
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

} // namespace zus::plugin
