// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_xattr.cc - extended attributes and POSIX ACLs on the Vfs (zuf's
// xattr.c and acl.c). Each is one ZUFS_OP_* message (zus_api.h); values and
// lists travel in page descriptors of the caller's buffer, never copied to
// the server.
//
// ACLs: the shim is the kernel. At create it does posix_acl_create (the
// parent's default ACL read with XATTR_GET, the new inode's ACLs sent with
// its NEW_INODE); setting an ACL and chmod keep the mode and the ACL in
// step in the server (zus_api.h, zufs/posix_acl.h).
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "kernel_shim/log.h"
#include "kernel_shim/inode_flags.h"
#include "kernel_shim/vfs.h"
#include "zufs/posix_acl.h"
#include "zufs/xattr_ns.h"

namespace zuf {

namespace {

// The page descriptors of [p, p + len): page-aligned addresses, the data
// at *offset in the first page.
zufs::page_list pages_of(const char *p, size_t len, std::vector<void *> &pv,
			 uint32_t *offset)
{
	uintptr_t a = reinterpret_cast<uintptr_t>(p);
	uintptr_t first = a & ~(PAGE_SIZE - 1);
	*offset = static_cast<uint32_t>(a - first);
	size_t n = (*offset + len + PAGE_SIZE - 1) / PAGE_SIZE;
	pv.clear();
	for (size_t i = 0; i < std::max<size_t>(n, 1); ++i)
		pv.push_back(reinterpret_cast<void *>(first + i * PAGE_SIZE));
	return { pv.data(), pv.size() };
}

// "user.x" -> ZUFS_XF_USER, "x".
int split_name(std::string_view full, uint8_t *type, std::string_view *name)
{
	if (full.size() > XATTR_NAME_MAX)
		return -ERANGE;
	for (const auto &k : zufs::xattr::kNamespaces) {
		if (full.substr(0, k.prefix.size()) != k.prefix)
			continue;
		*type = k.type;
		*name = full.substr(k.prefix.size());
		if (name->empty())
			return -EINVAL;
		if (name->size() > ZUFS_NAME_LEN)
			return -ERANGE;
		return 0;
	}
	return -EOPNOTSUPP;
}

void set_xattr_name(zufs_ioc_xattr *x, uint8_t type, std::string_view name)
{
	x->type = type;
	x->name_len = static_cast<uint8_t>(name.size());
	std::memcpy(x->name, name.data(), name.size());
}

} // namespace

int Vfs::setxattr(uint64_t ino, std::string_view name, std::string_view value,
		  int flags)
{
	uint8_t type;
	std::string_view n;
	int err = split_name(name, &type, &n);
	if (err)
		return err;
	if (flags & ~(XATTR_CREATE | XATTR_REPLACE | ZUFS_XATTR_ACL_KILL_SGID))
		return -EINVAL;
	if (value.size() > XATTR_SIZE_MAX)
		return -E2BIG;
	return xattr_set(ino, type, n, value, static_cast<uint16_t>(flags));
}

int Vfs::removexattr(uint64_t ino, std::string_view name)
{
	uint8_t type;
	std::string_view n;
	int err = split_name(name, &type, &n);
	if (err)
		return err;
	return xattr_set(ino, type, n, {}, ZUFS_XATTR_REMOVE);
}

// XATTR_SET of value (removexattr: ZUFS_XATTR_REMOVE, no value).
int Vfs::xattr_set(uint64_t ino, uint8_t type, std::string_view name,
		   std::string_view value, uint16_t user_flags)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	if (opts_.read_only)
		return -EROFS;
	if (int perm = may_change(inode.get())) // xattr_permission
		return perm;
	zufs_ioc_xattr x = {};
	x.hdr.operation = ZUFS_OP_XATTR_SET;
	x.zus_ii = inode->zus_ii;
	set_xattr_name(&x, type, name);
	x.user_flags = user_flags;
	if (value.empty())
		return call(&x.hdr, sizeof(x));
	std::vector<void *> pv;
	zufs::page_list pl =
		pages_of(value.data(), value.size(), pv, &x.hdr.offset);
	x.hdr.len = static_cast<uint32_t>(value.size());
	// A value needs room: wait for pending frees as Vfs::retry_nospc says.
	const zufs_ioc_xattr sent = x;
	return retry_nospc([&] {
		x = sent;
		return call(&x.hdr, sizeof(x), pl);
	});
}

// GET or LIST into buf (empty: the size only). Returns the size or -errno.
ssize_t Vfs::xattr_get_common(uint64_t ino, int op, uint8_t type,
			      std::string_view name, std::span<char> buf)
{
	PinnedInode inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	if (buf.size() > XATTR_LIST_MAX)
		buf = buf.first(XATTR_LIST_MAX);
	zufs_ioc_xattr x = {};
	x.hdr.operation = static_cast<uint16_t>(op);
	x.zus_ii = inode->zus_ii;
	set_xattr_name(&x, type, name);
	std::vector<void *> pv;
	zufs::page_list pl =
		pages_of(buf.data(), buf.size(), pv, &x.hdr.offset);
	x.hdr.len = static_cast<uint32_t>(buf.size());
	int err = call(&x.hdr, sizeof(x), buf.empty() ? zufs::page_list{} : pl);
	if (err)
		return err;
	if (buf.empty())
		return x.value_size;
	if (x.hdr.len > buf.size() || x.hdr.len != x.value_size) {
		zuf_err("XATTR op %d answered len %u of %zu", op, x.hdr.len,
			buf.size());
		return -EIO;
	}
	return x.hdr.len;
}

ssize_t Vfs::getxattr(uint64_t ino, std::string_view name, std::span<char> buf)
{
	uint8_t type;
	std::string_view n;
	int err = split_name(name, &type, &n);
	if (err)
		return err == -ERANGE ? -ERANGE : err;
	return xattr_get_common(ino, ZUFS_OP_XATTR_GET, type, n, buf);
}

ssize_t Vfs::listxattr(uint64_t ino, std::span<char> buf, bool privileged)
{
	// The whole list, then the names this caller may see (trusted.* only
	// with CAP_SYS_ADMIN, as simple_xattr_list does).
	std::vector<char> all;
	for (int tries = 0; tries < 4; ++tries) {
		ssize_t size =
			xattr_get_common(ino, ZUFS_OP_XATTR_LIST, 0, {}, {});
		if (size <= 0)
			return size;
		all.resize(size);
		ssize_t got =
			xattr_get_common(ino, ZUFS_OP_XATTR_LIST, 0, {}, all);
		if (got == -ERANGE)
			continue; // it grew meanwhile
		if (got < 0)
			return got;
		all.resize(got);
		break;
	}
	std::string out;
	for (size_t off = 0; off < all.size();) {
		const char *p = all.data() + off;
		size_t n = strnlen(p, all.size() - off);
		std::string_view name(p, n);
		if (privileged || name.substr(0, 8) != "trusted.")
			out.append(p, n).push_back('\0');
		off += n + 1;
	}
	if (buf.empty())
		return out.size();
	if (buf.size() < out.size())
		return -ERANGE;
	std::memcpy(buf.data(), out.data(), out.size());
	return out.size();
}

int Vfs::inherit_acls(Inode *dir, const zus_inode &dz, mode_t *mode,
		      mode_t umask, std::string *access, std::string *deflt)
{
	if (S_ISLNK(*mode))
		return 0;
	// No xattrs at all on the parent (i_xattr == 0): no default ACL, and
	// no message for the common case.
	if (!acl_ || !dz.i_xattr) {
		*mode &= ~umask;
		return 0;
	}
	thread_local std::vector<char> buf;
	ssize_t n = -ERANGE;
	for (int tries = 0; tries < 4 && n == -ERANGE; ++tries) {
		buf.resize(std::max<size_t>(buf.size(), PAGE_SIZE));
		n = xattr_get_common(dir->ino, ZUFS_OP_XATTR_GET,
				     ZUFS_XF_SYSTEM, zufs::acl::kDefault, buf);
		if (n == -ERANGE) { // bigger than the buffer: ask its size
			ssize_t size = xattr_get_common(
				dir->ino, ZUFS_OP_XATTR_GET, ZUFS_XF_SYSTEM,
				zufs::acl::kDefault, {});
			if (size > 0)
				buf.resize(
					std::min<size_t>(size, XATTR_SIZE_MAX));
		}
	}
	if (n == -ENODATA || n == -EOPNOTSUPP) {
		*mode &= ~umask;
		return 0;
	}
	if (n < 0)
		return int(n);
	zufs::acl::Acl def;
	if (zufs::acl::parse({ buf.data(), size_t(n) }, &def)) {
		zuf_err("ino %lu: malformed default ACL",
			(unsigned long)dir->ino);
		return -EIO;
	}
	if (def.empty()) {
		*mode &= ~umask;
		return 0;
	}
	zufs::acl::Acl acc = def;
	uint32_t m = *mode;
	int r = zufs::acl::create_masq(acc, &m);
	if (r < 0)
		return -EIO;
	*mode = (*mode & ~0777U) | (m & 0777U);
	if (r > 0)
		*access = zufs::acl::to_xattr(acc);
	if (S_ISDIR(*mode))
		*deflt = zufs::acl::to_xattr(def);
	return 0;
}

} // namespace zuf
