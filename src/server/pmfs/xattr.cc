// SPDX-License-Identifier: BSD-3-Clause
//
// xattr.cc - XATTR_GET, XATTR_SET, XATTR_LIST (messages in zus_api.h,
// media layout in layout.h).
//
// The attributes of an inode are one small set, read whole and rewritten
// whole: an update builds the new set in fresh blocks (nothing points to
// them yet), then one transaction points i_xattr at it and frees the old
// blocks. A crash leaves either the old set or the new one. Getters hold
// the inode's rwlock shared, setters exclusively.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "server/crc32c.h"
#include "server/pages.h"
#include "server/pmfs/ops.h"
#include "server/pmfs/pmfs.h"
#include "server/pmfs/xattr.h"

namespace zus::pmfs {

namespace {

constexpr uint32_t kXattrSizeMax = 65536; // XATTR_SIZE_MAX

struct XAttr {
	uint8_t type;
	std::string name; // without the prefix
	std::string value;
};

std::string_view prefix(uint8_t type)
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
		return {};
	}
}

std::string full_name(const XAttr &x) { return std::string(prefix(x.type)) + x.name; }

const pmfs_xattr_head *head_of(const zus_sb_info &sbi, const zus_inode *zi)
{
	uint64_t bn = zi->i_xattr;
	if (!bn || !sbi.valid_data_bn(bn))
		return nullptr;
	return reinterpret_cast<const pmfs_xattr_head *>(sbi.blk(bn));
}

// Parse the set of zi. -EIO when it does not check.
int load(const zus_sb_info &sbi, const zus_inode *zi, std::vector<XAttr> *out)
{
	out->clear();
	if (!zi->i_xattr)
		return 0;
	const pmfs_xattr_head *h = head_of(sbi, zi);
	if (!h || h->magic != kXattrMagic || h->nblk > kXattrMaxBlocks)
		return -EIO;
	std::string s;
	if (h->nblk == 0) {
		if (h->len > kXattrInline)
			return -EIO;
		s.assign(reinterpret_cast<const char *>(h + 1), h->len);
	} else {
		if (h->len > uint64_t(h->nblk) * kBlockSize)
			return -EIO;
		s.reserve(h->len);
		for (uint32_t i = 0; i < h->nblk && s.size() < h->len; ++i) {
			if (!sbi.valid_data_bn(h->bn[i]))
				return -EIO;
			size_t n = std::min<uint64_t>(kBlockSize, h->len - s.size());
			s.append(sbi.blk(h->bn[i]), n);
		}
	}
	if (crc32c(0, s.data(), s.size()) != h->crc)
		return -EIO;
	size_t off = 0;
	while (off < s.size()) {
		pmfs_xattr_rec r;
		if (s.size() - off < sizeof(r))
			return -EIO;
		memcpy(&r, s.data() + off, sizeof(r));
		off += sizeof(r);
		if (s.size() - off < uint64_t(r.name_len) + r.value_len || !r.name_len)
			return -EIO;
		XAttr x{r.type, s.substr(off, r.name_len), s.substr(off + r.name_len, r.value_len)};
		off += r.name_len + r.value_len;
		out->push_back(std::move(x));
	}
	return 0;
}

// Blocks of the set at head bn (the head first).
std::vector<uint64_t> blocks_of(const zus_sb_info &sbi, uint64_t bn)
{
	std::vector<uint64_t> v;
	if (!bn || !sbi.valid_data_bn(bn))
		return v;
	v.push_back(bn);
	auto *h = reinterpret_cast<const pmfs_xattr_head *>(sbi.blk(bn));
	if (h->magic == kXattrMagic && h->nblk <= kXattrMaxBlocks)
		for (uint32_t i = 0; i < h->nblk; ++i)
			if (sbi.valid_data_bn(h->bn[i]))
				v.push_back(h->bn[i]);
	return v;
}

// Replace the set of ii by xs (sorted here), crash-atomically.
int store(zus_sb_info &sbi, zus_inode_info *ii, std::vector<XAttr> &xs)
{
	zus_inode *zi = ii->zi;
	std::sort(xs.begin(), xs.end(),
		  [](const XAttr &a, const XAttr &b) { return full_name(a) < full_name(b); });
	std::string s;
	for (const XAttr &x : xs) {
		pmfs_xattr_rec r{x.type, static_cast<uint8_t>(x.name.size()), 0,
				 static_cast<uint32_t>(x.value.size())};
		s.append(reinterpret_cast<const char *>(&r), sizeof(r));
		s += x.name;
		s += x.value;
	}
	uint32_t nblk = 0;
	if (s.size() > kXattrInline)
		nblk = static_cast<uint32_t>((s.size() + kBlockSize - 1) / kBlockSize);
	if (nblk > kXattrMaxBlocks)
		return -ENOSPC;

	uint64_t head = 0;
	std::vector<uint64_t> fresh;
	if (!xs.empty()) {
		BlockAlloc::Run runs[kXattrMaxBlocks + 1];
		int nruns;
		uint64_t want = 1 + nblk;
		uint64_t got = sbi.balloc.alloc(want, runs, kXattrMaxBlocks + 1, &nruns);
		for (int r = 0; r < nruns; ++r)
			for (uint64_t k = 0; k < runs[r].n; ++k)
				fresh.push_back(runs[r].bn + k);
		if (got < want) {
			for (int r = 0; r < nruns; ++r)
				sbi.balloc.release(runs[r].bn, runs[r].n);
			return -ENOSPC;
		}
		head = fresh[0];
		alignas(8) char hb[kBlockSize] = {};
		auto *h = reinterpret_cast<pmfs_xattr_head *>(hb);
		h->magic = kXattrMagic;
		h->len = s.size();
		h->nblk = nblk;
		h->crc = crc32c(0, s.data(), s.size());
		if (!nblk) {
			memcpy(h + 1, s.data(), s.size());
		} else {
			for (uint32_t i = 0; i < nblk; ++i) {
				h->bn[i] = fresh[1 + i];
				size_t off = size_t(i) * kBlockSize;
				size_t n = std::min<size_t>(kBlockSize, s.size() - off);
				char *b = sbi.blk(fresh[1 + i]);
				sbi.persist.memcpy_nodrain(b, s.data() + off, n);
				if (n < kBlockSize)
					sbi.persist.memset_nodrain(b + n, 0, kBlockSize - n);
			}
		}
		sbi.persist.memcpy_nodrain(sbi.blk(head), hb, kBlockSize);
	}

	std::vector<uint64_t> old = blocks_of(sbi, zi->i_xattr);
	Tx tx(sbi);
	int err = 0;
	size_t owned = 0; // fresh blocks the transaction owns
	for (; owned < fresh.size(); ++owned)
		if ((err = tx.bits(fresh[owned], 1, true)))
			break;
	if (err) {
		for (size_t k = owned; k < fresh.size(); ++k)
			sbi.balloc.release(fresh[k], 1);
		return err;
	}
	for (uint64_t bn : old)
		if ((err = tx.bits(bn, 1, false)))
			return err;
	if ((err = tx.log(zi, sizeof(*zi))) || (err = tx.ready()))
		return err;
	zi->i_xattr = head;
	zi->i_ctime = now_ns();
	return tx.commit(ii);
}

zus_inode_info *xattr_ii(zufs_ioc_xattr *x, int *err)
{
	return ii_cookie(x->zus_ii, err);
}

// The name of the message, checked.
int msg_name(zus_sb_info &sbi, zufs_ioc_xattr *x, std::string_view *name)
{
	if (!x->name_len)
		return -ERANGE;
	if (prefix(x->type).empty())
		return -EOPNOTSUPP;
	*name = std::string_view(x->name, x->name_len);
	if (name->find('\0') != name->npos)
		return -EINVAL;
	if (x->type == ZUFS_XF_SYSTEM) {
		if (!sbi.acl)
			return -EOPNOTSUPP;
		if (*name != "posix_acl_access" && *name != "posix_acl_default")
			return -EOPNOTSUPP;
	}
	return 0;
}

// Copy bytes out into the message's pages under the GET/LIST protocol.
int answer(zufs_ioc_xattr *x, zufs::page_list pages, std::string_view bytes)
{
	uint32_t room = x->hdr.len;
	x->value_size = static_cast<uint32_t>(bytes.size());
	x->hdr.len = 0;
	if (!room)
		return 0;
	if (room < bytes.size())
		return -ERANGE;
	if (!pages_cover(pages, x->hdr.offset, room))
		return -EINVAL;
	const char *s = bytes.data();
	PageCursor(pages, x->hdr.offset).walk(bytes.size(), [&](char *p, size_t n) {
		memcpy(p, s, n);
		s += n;
	});
	x->hdr.len = static_cast<uint32_t>(bytes.size());
	return 0;
}

} // namespace

int op_xattr_get(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	auto *x = reinterpret_cast<zufs_ioc_xattr *>(hdr);
	int err = 0;
	x->value_size = 0;
	zus_inode_info *ii = xattr_ii(x, &err);
	if (!ii)
		return err;
	std::string_view name;
	if ((err = msg_name(*ii->sbi, x, &name)))
		return err;
	std::shared_lock lk(ii->rw);
	std::vector<XAttr> xs;
	if ((err = load(*ii->sbi, ii->zi, &xs)))
		return err;
	for (const XAttr &a : xs)
		if (a.type == x->type && a.name == name)
			return answer(x, pages, a.value);
	x->hdr.len = 0;
	return -ENODATA;
}

int op_xattr_list(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	auto *x = reinterpret_cast<zufs_ioc_xattr *>(hdr);
	int err = 0;
	x->value_size = 0;
	zus_inode_info *ii = xattr_ii(x, &err);
	if (!ii)
		return err;
	std::shared_lock lk(ii->rw);
	std::vector<XAttr> xs;
	if ((err = load(*ii->sbi, ii->zi, &xs)))
		return err;
	std::string list;
	for (const XAttr &a : xs) {
		list += full_name(a);
		list += '\0';
	}
	return answer(x, pages, list);
}

int op_xattr_set(zufs_ioc_hdr *hdr, zufs::page_list pages)
{
	auto *x = reinterpret_cast<zufs_ioc_xattr *>(hdr);
	int err = 0;
	x->value_size = 0;
	zus_inode_info *ii = xattr_ii(x, &err);
	if (!ii)
		return err;
	zus_sb_info &sbi = *ii->sbi;
	if (sbi.ro)
		return -EROFS;
	std::string_view name;
	if ((err = msg_name(sbi, x, &name)))
		return err;
	const bool remove = x->user_flags & ZUFS_XATTR_REMOVE;
	const uint32_t len = remove ? 0 : x->hdr.len;
	if (len > kXattrSizeMax)
		return -E2BIG;
	if (!pages_cover(pages, x->hdr.offset, len))
		return -EINVAL;
	std::string value(len, '\0');
	if (len)
		PageCursor(pages, x->hdr.offset).copy_out(value.data(), len);

	std::unique_lock lk(ii->rw);
	std::vector<XAttr> xs;
	if ((err = load(sbi, ii->zi, &xs)))
		return err;
	auto it = std::find_if(xs.begin(), xs.end(), [&](const XAttr &a) {
		return a.type == x->type && a.name == name;
	});
	const bool exists = it != xs.end();
	if (remove) {
		if (!exists)
			return -ENODATA;
		xs.erase(it);
	} else {
		if (exists && (x->user_flags & XATTR_CREATE))
			return -EEXIST;
		if (!exists && (x->user_flags & XATTR_REPLACE))
			return -ENODATA;
		if (exists)
			it->value = std::move(value);
		else
			xs.push_back({x->type, std::string(name), std::move(value)});
	}
	return store(sbi, ii, xs);
}

int xattr_free_all(zus_sb_info &sbi, zus_inode_info *ii)
{
	if (!ii->zi->i_xattr)
		return 0;
	std::vector<XAttr> none;
	return store(sbi, ii, none);
}

} // namespace zus::pmfs
