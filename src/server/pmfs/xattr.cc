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
//
// POSIX ACLs (mount option "acl"): system.posix_acl_access/_default are
// stored like any xattr, but setting one is the kernel's set_acl (checked,
// and an access ACL moves the mode bits in the same transaction); NEW_INODE
// and chmod link their ACLs through an XattrSwap in their own transaction.
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
#include "zufs/posix_acl.h"
#include "zufs/xattr_ns.h"

namespace zus::pmfs {

struct XAttr {
	uint8_t type;
	std::string name; // without the prefix
	std::string value;
};

namespace {

constexpr uint32_t kXattrSizeMax = 65536; // XATTR_SIZE_MAX

using zufs::xattr::prefix;

std::string full_name(const XAttr &x)
{
	return std::string(prefix(x.type)) + x.name;
}

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
			size_t n = std::min<uint64_t>(kBlockSize,
						      h->len - s.size());
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
		if (s.size() - off < uint64_t(r.name_len) + r.value_len ||
		    !r.name_len)
			return -EIO;
		XAttr x{ r.type, s.substr(off, r.name_len),
			 s.substr(off + r.name_len, r.value_len) };
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

// Replace the set of ii by xs, crash-atomically; mode: the new i_mode in
// the same transaction (an ACL set), or null.
int store(zus_sb_info &sbi, zus_inode_info *ii, std::vector<XAttr> &xs,
	  const uint16_t *mode = nullptr)
{
	zus_inode *zi = ii->zi;
	XattrSwap sw(sbi);
	int err = sw.build(xs, zi);
	if (err)
		return err;
	Tx tx(sbi);
	if ((err = sw.claim(tx)) || (err = tx.log(zi, sizeof(*zi))) ||
	    (err = tx.ready()))
		return err;
	sw.apply(zi);
	if (mode)
		zi->i_mode = *mode;
	zi->i_ctime = now_ns();
	return tx.commit(ii);
}

// Set (or, acl empty, remove) the ACL name of ii: the kernel's set_acl
// with posix_acl_update_mode for the access ACL. Holds ii->rw.
int acl_set(zus_sb_info &sbi, zus_inode_info *ii, std::string_view name,
	    const zufs::acl::Acl &acl, bool kill_sgid)
{
	const bool access = name == zufs::acl::kAccess;
	std::unique_lock lk(ii->rw);
	zus_inode *zi = ii->zi;
	if (!access && !S_ISDIR(zi->i_mode))
		return acl.empty() ? 0 : -EACCES;
	std::vector<XAttr> xs;
	int err = load(sbi, zi, &xs);
	if (err)
		return err;
	uint16_t mode = zi->i_mode;
	bool keep = !acl.empty();
	if (access && keep) {
		uint32_t m = mode;
		int r = zufs::acl::equiv_mode(acl, &m);
		if (r < 0)
			return r;
		keep = r > 0; // an ACL the mode says all of is not kept
		mode = static_cast<uint16_t>(m);
		if (kill_sgid)
			mode &= ~S_ISGID;
	}
	std::erase_if(xs, [&](const XAttr &a) {
		return a.type == ZUFS_XF_SYSTEM && a.name == name;
	});
	if (keep)
		xs.push_back({ ZUFS_XF_SYSTEM, std::string(name),
			       zufs::acl::to_xattr(acl) });
	return store(sbi, ii, xs, &mode);
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

// The inode of an XATTR message, its value_size reset; nullptr with *err.
zus_inode_info *msg_inode(zufs_ioc_xattr *x, int *err)
{
	x->value_size = 0;
	return xattr_ii(x, err);
}

// The attributes of ii, read with its rwlock shared (GET, LIST).
int load_shared(zus_inode_info *ii, std::vector<XAttr> *xs)
{
	std::shared_lock lk(ii->rw);
	return load(*ii->sbi, ii->zi, xs);
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
	PageCursor(pages, x->hdr.offset)
		.walk(bytes.size(), [&](char *p, size_t n) {
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
	zus_inode_info *ii = msg_inode(x, &err);
	if (!ii)
		return err;
	std::string_view name;
	if ((err = msg_name(*ii->sbi, x, &name)))
		return err;
	std::vector<XAttr> xs;
	if ((err = load_shared(ii, &xs)))
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
	zus_inode_info *ii = msg_inode(x, &err);
	if (!ii)
		return err;
	std::vector<XAttr> xs;
	if ((err = load_shared(ii, &xs)))
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
	zus_inode_info *ii = msg_inode(x, &err);
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
	// A removal rewrites the rest of the set into new blocks before the
	// old ones go: on a full file system those come from the reserve
	// (balloc.h), as freeing never fails with ENOSPC.
	BlockAlloc::ReserveScope reserve(remove);

	if (x->type == ZUFS_XF_SYSTEM) { // an ACL (msg_name checked)
		zufs::acl::Acl acl;
		if (!remove && (err = zufs::acl::parse(value, &acl)))
			return err;
		return acl_set(sbi, ii, name, acl,
			       x->user_flags & ZUFS_XATTR_ACL_KILL_SGID);
	}

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
			xs.push_back({ x->type, std::string(name),
				       std::move(value) });
	}
	return store(sbi, ii, xs);
}

XattrSwap::~XattrSwap()
{
	for (size_t k = claimed_; k < fresh_.size(); ++k)
		sbi_.balloc.release(fresh_[k], 1);
}

int XattrSwap::build(std::vector<XAttr> &xs, const zus_inode *old)
{
	std::sort(xs.begin(), xs.end(), [](const XAttr &a, const XAttr &b) {
		return full_name(a) < full_name(b);
	});
	std::string s;
	for (const XAttr &x : xs) {
		pmfs_xattr_rec r{ x.type, static_cast<uint8_t>(x.name.size()),
				  0, static_cast<uint32_t>(x.value.size()) };
		s.append(reinterpret_cast<const char *>(&r), sizeof(r));
		s += x.name;
		s += x.value;
	}
	uint32_t nblk = 0;
	if (s.size() > kXattrInline)
		nblk = static_cast<uint32_t>((s.size() + kBlockSize - 1) /
					     kBlockSize);
	if (nblk > kXattrMaxBlocks)
		return -ENOSPC;

	if (!xs.empty()) {
		BlockAlloc::Run runs[kXattrMaxBlocks + 1];
		int nruns;
		uint64_t want = 1 + nblk;
		uint64_t got = sbi_.balloc.alloc(want, runs,
						 kXattrMaxBlocks + 1, &nruns);
		for (int r = 0; r < nruns; ++r)
			for (uint64_t k = 0; k < runs[r].n; ++k)
				fresh_.push_back(runs[r].bn + k);
		if (got < want)
			return -ENOSPC; // the destructor gives them back
		head_ = fresh_[0];
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
				h->bn[i] = fresh_[1 + i];
				size_t off = size_t(i) * kBlockSize;
				size_t n = std::min<size_t>(kBlockSize,
							    s.size() - off);
				char *b = sbi_.blk(fresh_[1 + i]);
				sbi_.persist.memcpy_nodrain(b, s.data() + off,
							    n);
				if (n < kBlockSize)
					sbi_.persist.memset_nodrain(
						b + n, 0, kBlockSize - n);
			}
		}
		sbi_.persist.memcpy_nodrain(sbi_.blk(head_), hb, kBlockSize);
	}
	if (old)
		old_ = blocks_of(sbi_, old->i_xattr);
	pending_ = true;
	return 0;
}

int XattrSwap::claim(Tx &tx)
{
	int err;
	for (; claimed_ < fresh_.size(); ++claimed_)
		if ((err = tx.bits(fresh_[claimed_], 1, true)))
			return err;
	for (uint64_t bn : old_)
		if ((err = tx.bits(bn, 1, false)))
			return err;
	return 0;
}

void XattrSwap::apply(zus_inode *zi) const
{
	if (pending_)
		zi->i_xattr = head_;
}

int XattrSwap::new_inode_acls(const zufs_ioc_new_inode *ni,
			      zufs::page_list pages)
{
	const uint32_t alen = ni->acl_access_len, dlen = ni->acl_default_len;
	if (!alen && !dlen)
		return 0;
	if (!sbi_.acl)
		return -EOPNOTSUPP;
	if (S_ISLNK(ni->zi.i_mode) || (dlen && !S_ISDIR(ni->zi.i_mode)) ||
	    uint64_t(alen) + dlen != ni->hdr.len || alen > kXattrSizeMax ||
	    dlen > kXattrSizeMax ||
	    !pages_cover(pages, ni->hdr.offset, ni->hdr.len))
		return -EINVAL;
	std::string both(ni->hdr.len, '\0');
	PageCursor(pages, ni->hdr.offset).copy_out(both.data(), both.size());
	std::vector<XAttr> xs;
	const std::string_view names[2] = { zufs::acl::kAccess,
					    zufs::acl::kDefault };
	const uint32_t lens[2] = { alen, dlen };
	size_t off = 0;
	for (int i = 0; i < 2; ++i) {
		if (!lens[i])
			continue;
		zufs::acl::Acl acl;
		int err = zufs::acl::parse(
			std::string_view(both).substr(off, lens[i]), &acl);
		if (err || acl.empty())
			return err ? err : -EINVAL;
		xs.push_back({ ZUFS_XF_SYSTEM, std::string(names[i]),
			       zufs::acl::to_xattr(acl) });
		off += lens[i];
	}
	return build(xs, nullptr);
}

int XattrSwap::chmod(const zus_inode *zi, uint32_t mode)
{
	if (!sbi_.acl || !zi->i_xattr)
		return 0;
	std::vector<XAttr> xs;
	int err = load(sbi_, zi, &xs);
	if (err)
		return err;
	auto it = std::find_if(xs.begin(), xs.end(), [](const XAttr &a) {
		return a.type == ZUFS_XF_SYSTEM && a.name == zufs::acl::kAccess;
	});
	if (it == xs.end())
		return 0;
	zufs::acl::Acl acl;
	if (zufs::acl::parse(it->value, &acl) || acl.empty() ||
	    zufs::acl::chmod(acl, mode))
		return -EIO; // stored ACLs were checked when set
	it->value = zufs::acl::to_xattr(acl);
	return build(xs, zi);
}

int xattr_free_all(zus_sb_info &sbi, zus_inode_info *ii)
{
	if (!ii->zi->i_xattr)
		return 0;
	std::vector<XAttr> none;
	return store(sbi, ii, none);
}

} // namespace zus::pmfs
