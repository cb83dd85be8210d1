// SPDX-License-Identifier: BSD-3-Clause
#include "fake_server.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace fake {

namespace {

constexpr uint64_t kInodeTable = PAGE_SIZE; // zus_inodes from here
constexpr uint64_t kMaxInodes = 1024;
constexpr uint64_t kFirstData = (kInodeTable + kMaxInodes * 128) / PAGE_SIZE;

// Bytes [0, len) of the data described by (pages, offset).
template <typename F>
void for_each_page(zufs::page_list pages, uint32_t offset, uint64_t len, F fn)
{
	uint64_t done = 0;
	while (done < len) {
		uint64_t at = offset + done;
		char *p = static_cast<char *>(pages[at / PAGE_SIZE]) +
			  at % PAGE_SIZE;
		uint64_t n = std::min<uint64_t>(len - done,
						PAGE_SIZE - at % PAGE_SIZE);
		fn(p, done, n);
		done += n;
	}
}

zus_inode_info *cookie(FakeInode *i)
{
	return reinterpret_cast<zus_inode_info *>(i);
}

FakeInode *from_cookie(zus_inode_info *ii)
{
	return reinterpret_cast<FakeInode *>(ii);
}

} // namespace

FakeServer::FakeServer(size_t pool_size)
    : pool_(static_cast<char *>(std::aligned_alloc(PAGE_SIZE, pool_size))),
      pool_size_(pool_size), next_block_(kFirstData)
{
	std::memset(pool_, 0, kFirstData * PAGE_SIZE);
	FakeInode *root = new_inode(S_IFDIR | 0755);
	root->zi->i_nlink = 2;
}

FakeServer::~FakeServer() { std::free(pool_); }

FakeInode *FakeServer::new_inode(uint16_t mode)
{
	auto i = std::make_unique<FakeInode>();
	i->ino = next_ino_++;
	i->zi = reinterpret_cast<zus_inode *>(pool_ + kInodeTable +
					      i->ino * 128);
	std::memset(i->zi, 0, sizeof(*i->zi));
	i->zi->i_ino = i->ino;
	i->zi->i_mode = mode;
	i->zi->i_nlink = 1;
	FakeInode *p = i.get();
	inodes_[p->ino] = std::move(i);
	return p;
}

FakeInode *FakeServer::inode(uint64_t ino)
{
	auto it = inodes_.find(ino);
	return it == inodes_.end() ? nullptr : it->second.get();
}

zu_dpp_t FakeServer::zi_dpp(uint64_t ino) const
{
	return zu_enc_dpp_t(kInodeTable + ino * 128, 0);
}

uint64_t FakeServer::alloc_block()
{
	uint64_t bn = next_block_++;
	if (bn >= pool_size_ / PAGE_SIZE)
		std::abort();
	std::memset(pool_ + bn * PAGE_SIZE, 0, PAGE_SIZE);
	return bn;
}

uint64_t FakeServer::block_of(uint64_t ino, uint64_t page)
{
	auto &b = inode(ino)->blocks;
	auto it = b.find(page);
	return it == b.end() ? 0 : it->second;
}

uint64_t FakeServer::make_file(uint64_t dir, const std::string &name,
			       uint64_t size)
{
	FakeInode *i = new_inode(S_IFREG | 0644);
	i->zi->i_size = size;
	inode(dir)->dentries[name] = i->ino;
	return i->ino;
}

int FakeServer::mount(zufs_ioc_mount &m)
{
	std::lock_guard lock(lock_);
	if (m.hdr.operation == ZUFS_M_UMOUNT) {
		++umounts;
		m.hdr.err = 0;
		return 0;
	}
	last_options = m.zmi.po.mount_options;
	last_mount_flags = m.zmi.po.mount_flags;
	if (last_options.find("pmem=/bad") != std::string::npos) {
		std::strcpy(m.errmsg, "image /bad: bad magic, not a zufuse "
				      "image (use --mkfs to format)");
		m.hdr.err = -EINVAL;
		return m.hdr.err;
	}
	++mounts;
	FakeInode *root = inode(1);
	++root->refs;
	m.pools[0] = { uint64_t(reinterpret_cast<uintptr_t>(pool_)),
		       pool_size_ };
	m.zmi.zus_sbi = reinterpret_cast<zus_sb_info *>(this);
	m.zmi.zus_ii = cookie(root);
	m.zmi._zi = zi_dpp(1);
	m.zmi.s_blocksize_bits = PAGE_SHIFT;
	m.hdr.err = 0;
	return 0;
}

int FakeServer::dispatch(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	if (hook && hook(hdr, pages))
		return hdr->err;

	std::lock_guard lock(lock_);
	int err = 0;
	switch (hdr->operation) {
	case ZUFS_OP_LOOKUP: {
		auto *l = reinterpret_cast<zufs_ioc_lookup *>(hdr);
		FakeInode *dir = from_cookie(l->dir_ii);
		auto it = dir->dentries.find(
			std::string(l->str.name, l->str.len));
		if (it == dir->dentries.end()) {
			err = -ENOENT;
			break;
		}
		FakeInode *i = inode(it->second);
		++i->refs;
		l->_zi = zi_dpp(i->ino);
		l->zus_ii = cookie(i);
		break;
	}
	case ZUFS_OP_NEW_INODE: {
		auto *n = reinterpret_cast<zufs_ioc_new_inode *>(hdr);
		FakeInode *dir = from_cookie(n->dir_ii);
		std::string name(n->str.name, n->str.len);
		if (dir->dentries.count(name)) {
			err = -EEXIST;
			break;
		}
		FakeInode *i = new_inode(n->zi.i_mode);
		i->zi->i_uid = n->zi.i_uid;
		i->zi->i_gid = n->zi.i_gid;
		i->zi->i_rdev = n->zi.i_rdev;
		if (S_ISDIR(n->zi.i_mode)) {
			i->zi->i_nlink = 2;
			++dir->zi->i_nlink;
		}
		if (S_ISLNK(n->zi.i_mode)) { // the target is in the pages
			const char *t =
				static_cast<char *>(pages[0]) + n->hdr.offset;
			i->zi->i_size = n->hdr.len;
			if (n->hdr.len < sizeof(i->zi->i_symlink)) {
				std::memcpy(i->zi->i_symlink, t, n->hdr.len);
			} else {
				uint64_t bn = alloc_block();
				std::memcpy(pool_ + bn * PAGE_SIZE, t,
					    n->hdr.len);
				i->zi->i_sym_dpp =
					zu_enc_dpp_t(bn * PAGE_SIZE, 0);
			}
		}
		i->refs = 1;
		dir->dentries[name] = i->ino;
		n->_zi = zi_dpp(i->ino);
		n->zus_ii = cookie(i);
		break;
	}
	case ZUFS_OP_EVICT_INODE:
	case ZUFS_OP_FREE_INODE: {
		auto *e = reinterpret_cast<zufs_ioc_evict_inode *>(hdr);
		FakeInode *i = from_cookie(e->zus_ii);
		releases.push_back({ hdr->operation, i->ino, e->flags });
		--i->refs;
		if (hdr->operation == ZUFS_OP_FREE_INODE)
			i->freed = true;
		break;
	}
	case ZUFS_OP_ADD_DENTRY: {
		auto *d = reinterpret_cast<zufs_ioc_dentry *>(hdr);
		FakeInode *dir = from_cookie(d->zus_dir_ii);
		FakeInode *i = from_cookie(d->zus_ii);
		std::string name(d->str.name, d->str.len);
		if (dir->dentries.count(name)) {
			err = -EEXIST;
			break;
		}
		dir->dentries[name] = i->ino;
		++i->zi->i_nlink;
		break;
	}
	case ZUFS_OP_REMOVE_DENTRY:
		err = op_remove(reinterpret_cast<zufs_ioc_dentry *>(hdr));
		break;
	case ZUFS_OP_READDIR:
		err = op_readdir(reinterpret_cast<zufs_ioc_readdir *>(hdr),
				 pages);
		break;
	case ZUFS_OP_READ:
	case ZUFS_OP_WRITE:
		err = op_io(reinterpret_cast<zufs_ioc_IO *>(hdr), pages);
		break;
	case ZUFS_OP_GET_MULTY:
		err = op_get_multy(reinterpret_cast<zufs_ioc_IO *>(hdr));
		break;
	case ZUFS_OP_PUT_MULTY: {
		auto *io = reinterpret_cast<zufs_ioc_IO *>(hdr);
		pinned -= io->ziom.iom_n;
		break;
	}
	case ZUFS_OP_SETATTR:
		err = op_setattr(reinterpret_cast<zufs_ioc_attr *>(hdr));
		break;
	case ZUFS_OP_SYNC:
		break;
	case ZUFS_OP_STATFS: {
		auto *s = reinterpret_cast<zufs_ioc_statfs *>(hdr);
		s->statfs_out = {};
		s->statfs_out.f_bsize = PAGE_SIZE;
		s->statfs_out.f_blocks = pool_size_ / PAGE_SIZE;
		s->statfs_out.f_bfree = pool_size_ / PAGE_SIZE - next_block_;
		s->statfs_out.f_bavail = s->statfs_out.f_bfree;
		s->statfs_out.f_files = kMaxInodes;
		s->statfs_out.f_ffree = kMaxInodes - next_ino_;
		s->statfs_out.f_namelen = ZUFS_NAME_LEN;
		break;
	}
	case ZUFS_OP_RENAME: {
		auto *r = reinterpret_cast<zufs_ioc_rename *>(hdr);
		FakeInode *od = from_cookie(r->old_dir_ii);
		FakeInode *nd = from_cookie(r->new_dir_ii);
		std::string on(r->old_d_str.name, r->old_d_str.len);
		std::string nn(r->new_d_str.name, r->new_d_str.len);
		if (r->new_zus_ii)
			--from_cookie(r->new_zus_ii)->zi->i_nlink;
		nd->dentries[nn] = od->dentries[on];
		od->dentries.erase(on);
		break;
	}
	default:
		err = -ENOTSUP;
	}
	hdr->err = err;
	return err;
}

int FakeServer::op_remove(zufs_ioc_dentry *d)
{
	FakeInode *dir = from_cookie(d->zus_dir_ii);
	FakeInode *i = from_cookie(d->zus_ii);
	auto it = dir->dentries.find(std::string(d->str.name, d->str.len));
	if (it == dir->dentries.end() || it->second != i->ino)
		return -ENOENT;
	if (S_ISDIR(i->zi->i_mode)) {
		if (!i->dentries.empty())
			return -ENOTEMPTY;
		i->zi->i_nlink = 0;
		--dir->zi->i_nlink;
	} else {
		--i->zi->i_nlink;
	}
	dir->dentries.erase(it);
	return 0;
}

int FakeServer::op_readdir(zufs_ioc_readdir *rd, zufs::page_list pages)
{
	FakeInode *dir = from_cookie(rd->dir_ii);
	std::vector<std::pair<std::string, uint64_t>> all = { { ".", dir->ino },
							      { "..", 1 } };
	for (auto &[name, ino] : dir->dentries)
		all.emplace_back(name, ino);

	char *buf = static_cast<char *>(pages[0]) + rd->hdr.offset;
	uint32_t used = 0;
	uint64_t i = rd->pos;
	for (; i < all.size(); ++i) {
		const std::string &name = all[i].first;
		uint32_t len = zufs_dir_entry_len(name.size());
		if (used + len > rd->hdr.len)
			break;
		auto *zde = reinterpret_cast<zufs_dir_entry *>(buf + used);
		zde->ino = all[i].second;
		FakeInode *child = inode(all[i].second);
		zde->type = S_ISDIR(child->zi->i_mode) ? 4 : 8;
		zde->pos = i + 1;
		zde->zstr.len = name.size();
		std::memcpy(zde->zstr.name, name.data(), name.size());
		used += len;
	}
	rd->more = i < all.size();
	rd->hdr.len = used;
	return 0;
}

int FakeServer::op_setattr(zufs_ioc_attr *a)
{
	FakeInode *i = from_cookie(a->zus_ii);
	if (a->zuf_attr & STATX_SIZE) {
		uint64_t keep = (a->size + PAGE_SIZE - 1) / PAGE_SIZE;
		for (auto it = i->blocks.begin(); it != i->blocks.end();)
			it = it->first >= keep ? i->blocks.erase(it) : ++it;
		if (a->size < i->zi->i_size) {
			a->unmap_offset = a->size;
			a->unmap_len = ~0ULL;
		}
		i->zi->i_size = a->size;
	}
	if (a->zuf_attr & STATX_MODE)
		i->zi->i_mode = a->mode;
	if (a->zuf_attr & STATX_UID)
		i->zi->i_uid = a->uid;
	if (a->zuf_attr & STATX_GID)
		i->zi->i_gid = a->gid;
	if (a->zuf_attr & STATX_MTIME)
		i->zi->i_mtime = a->mtime;
	if (a->zuf_attr & STATX_ATIME)
		i->zi->i_atime = a->atime;
	return 0;
}

int FakeServer::op_io(zufs_ioc_IO *io, zufs::page_list pages)
{
	FakeInode *i = from_cookie(io->zus_ii);
	ios.push_back({ io->hdr.operation, io->filepos, io->flags,
			io->hdr.offset, io->hdr.len, pages.size(), io->ra,
			pages.empty() ? nullptr : pages[0] });
	last_io_msg = io;

	uint64_t len = io->hdr.len;
	if (io->hdr.operation == ZUFS_OP_READ) {
		uint64_t size = i->zi->i_size;
		len = io->filepos >= size ?
			      0 :
			      std::min<uint64_t>(len, size - io->filepos);
		for_each_page(pages, io->hdr.offset, len,
			      [&](char *p, uint64_t done, uint64_t n) {
			uint64_t pos = io->filepos + done;
			uint64_t bn = block_of(i->ino, pos / PAGE_SIZE);
			if (bn)
				std::memcpy(p,
					    pool_ + bn * PAGE_SIZE +
						    pos % PAGE_SIZE,
					    n);
			else
				std::memset(p, 0, n);
		});
	} else {
		uint64_t fill_first = ~0ULL, fill_last = 0;
		for_each_page(pages, io->hdr.offset, len,
			      [&](char *p, uint64_t done, uint64_t n) {
			uint64_t pos = io->filepos + done;
			uint64_t page = pos / PAGE_SIZE;
			uint64_t bn = block_of(i->ino, page);
			if (!bn) {
				bn = alloc_block();
				i->blocks[page] = bn;
				fill_first = std::min(fill_first, page);
				fill_last = std::max(fill_last, page);
			}
			std::memcpy(pool_ + bn * PAGE_SIZE + pos % PAGE_SIZE, p,
				    n);
		});
		i->zi->i_size =
			std::max<uint64_t>(i->zi->i_size, io->filepos + len);
		io->wr_unmap = {};
		if (report_wr_unmap && fill_first != ~0ULL) {
			io->wr_unmap.offset = fill_first;
			io->wr_unmap.len = fill_last - fill_first + 1;
		}
	}
	io->last_pos = io->filepos + len;
	return 0;
}

int FakeServer::op_get_multy(zufs_ioc_IO *io)
{
	FakeInode *i = from_cookie(io->zus_ii);
	uint64_t size = i->zi->i_size;
	uint64_t end = std::min<uint64_t>(io->filepos + io->hdr.len, size);
	if (end <= io->filepos) {
		io->last_pos = io->filepos;
		io->ziom.iom_n = 0;
		return 0;
	}
	uint64_t first = io->filepos / PAGE_SIZE;
	uint64_t n = (end + PAGE_SIZE - 1) / PAGE_SIZE - first;
	if (n > io->ziom.iom_max)
		return -EINVAL;
	auto *iom_e = reinterpret_cast<__u64 *>(reinterpret_cast<char *>(io) +
						offsetof(zufs_ioc_IO, iom_e));
	for (uint64_t k = 0; k < n; ++k)
		_zufs_iom_enc_type_val(
			&iom_e[k], IOM_T1_READ,
			zu_enc_dpp_t_bn(block_of(i->ino, first + k), 0));
	io->ziom.iom_n = n;
	io->last_pos = end;
	pinned += n;
	return 0;
}

} // namespace fake
