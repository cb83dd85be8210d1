// SPDX-License-Identifier: BSD-3-Clause
//
// host_xattr.cc - the seed door's extended attributes: zufuse's xattr
// message (name apart, value in the pages) as the seed's.
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "server/plugin/app_buf.h"
#include "zufs/xattr_ns.h"

namespace zus::plugin {

// zufuse's xattr message (name apart, value in the pages) as the seed's
// (the full name and the value in one buffer after the header).
int PluginMount::xattr(zufs_ioc_xattr *ioc, zufs::page_list pages)
{
	HostInode *h = hi(ioc->zus_ii);
	if (!h)
		return -EINVAL;
	const uint16_t op = ioc->hdr.operation;
	auto fn = op == ZUFS_OP_XATTR_GET ? h->zii->op->getxattr :
		  op == ZUFS_OP_XATTR_SET ? h->zii->op->setxattr :
					    h->zii->op->listxattr;
	if (!fn)
		return -EOPNOTSUPP;
	std::string name;
	if (op != ZUFS_OP_XATTR_LIST) {
		const std::string_view prefix = zufs::xattr::prefix(ioc->type);
		if (prefix.empty() || !ioc->name_len)
			return -EINVAL;
		if (ioc->type == ZUFS_XF_SYSTEM)
			return -EOPNOTSUPP; // no ACLs through a plugin
		name = std::string(prefix) +
		       std::string(ioc->name,
				   strnlen(ioc->name, ioc->name_len));
		if (name.size() > 255)
			return -ERANGE;
	}
	AppBuf app(pages, ioc->hdr.offset, ioc->hdr.len);
	if (!app.ptr())
		return -EINVAL;
	const uint32_t room = ioc->hdr.len;
	std::vector<uint64_t> buf(
		(sizeof(zus_seed_zufs_ioc_xattr) + name.size() + 1 + room + 7) /
			8 +
		1);
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
		err = sane(fn(h->zii, x),
			   op == ZUFS_OP_XATTR_GET ? "getxattr" : "listxattr");
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
