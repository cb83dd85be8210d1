// SPDX-License-Identifier: BSD-3-Clause
//
// posix_acl.h - POSIX ACLs as they cross the ABI: the Linux xattr format of
// system.posix_acl_access / system.posix_acl_default (a
// posix_acl_xattr_header, version 2, then posix_acl_xattr_entry records,
// little endian) and the kernel's ACL arithmetic on it (fs/posix_acl.c).
//
// Both sides use it: the shim plays the kernel (posix_acl_create when it
// creates an inode), the server keeps the mode in step when an access ACL
// is set (posix_acl_update_mode) and rewrites the ACL on chmod
// (posix_acl_chmod). It is the wire format, not pmfs's media format: pmfs
// stores the value bytes as an ordinary xattr.
//
// Header only; no allocation beyond the std::vector/std::string results.
#ifndef ZUFS_POSIX_ACL_H
#define ZUFS_POSIX_ACL_H

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace zufs::acl {

// e_tag values (linux/posix_acl.h) and e_perm bits.
enum : uint16_t {
	kUserObj = 0x01,
	kUser = 0x02,
	kGroupObj = 0x04,
	kGroup = 0x08,
	kMask = 0x10,
	kOther = 0x20,
};
enum : uint16_t { kRead = 4, kWrite = 2, kExecute = 1 };

constexpr uint32_t kVersion = 2;       // POSIX_ACL_XATTR_VERSION
constexpr uint32_t kUndefinedId = ~0U; // ACL_UNDEFINED_ID
constexpr size_t kHeaderSize = 4;
constexpr size_t kEntrySize = 8;

constexpr std::string_view kAccess = "posix_acl_access"; // after "system."
constexpr std::string_view kDefault = "posix_acl_default";

struct Entry {
	uint16_t tag;
	uint16_t perm;
	uint32_t id; // uid/gid for kUser/kGroup, else kUndefinedId
};
using Acl = std::vector<Entry>;

namespace detail {
inline uint32_t le32(const char *p)
{
	const auto *u = reinterpret_cast<const unsigned char *>(p);
	return u[0] | u[1] << 8 | u[2] << 16 | uint32_t(u[3]) << 24;
}
inline uint16_t le16(const char *p)
{
	const auto *u = reinterpret_cast<const unsigned char *>(p);
	return uint16_t(u[0] | u[1] << 8);
}
inline void put(std::string *s, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; ++i)
		s->push_back(char((v >> (8 * i)) & 0xff));
}
} // namespace detail

// posix_acl_valid(): entries in tag order, one of each of USER_OBJ,
// GROUP_OBJ, OTHER, a MASK when there are named entries, rwx perms only.
inline int valid(const Acl &acl)
{
	uint16_t state = kUserObj; // the tag expected next; 0: done
	bool needs_mask = false;
	for (const Entry &e : acl) {
		if (e.perm & ~(kRead | kWrite | kExecute))
			return -EINVAL;
		switch (e.tag) {
		case kUserObj:
			if (state != kUserObj)
				return -EINVAL;
			state = kUser;
			break;
		case kUser:
			if (state != kUser || e.id == kUndefinedId)
				return -EINVAL;
			needs_mask = true;
			break;
		case kGroupObj:
			if (state != kUser)
				return -EINVAL;
			state = kGroup;
			break;
		case kGroup:
			if (state != kGroup || e.id == kUndefinedId)
				return -EINVAL;
			needs_mask = true;
			break;
		case kMask:
			if (state != kGroup)
				return -EINVAL;
			state = kOther;
			break;
		case kOther:
			if (state != kOther && (state != kGroup || needs_mask))
				return -EINVAL;
			state = 0;
			break;
		default:
			return -EINVAL;
		}
	}
	return state == 0 ? 0 : -EINVAL;
}

// posix_acl_from_xattr() + posix_acl_valid(): 0 and *out (empty for a bare
// header: "no ACL"), -EOPNOTSUPP for another version, -EINVAL otherwise.
inline int parse(std::string_view v, Acl *out)
{
	out->clear();
	if (v.size() < kHeaderSize)
		return -EINVAL;
	if (detail::le32(v.data()) != kVersion)
		return -EOPNOTSUPP;
	if ((v.size() - kHeaderSize) % kEntrySize)
		return -EINVAL;
	size_t n = (v.size() - kHeaderSize) / kEntrySize;
	out->reserve(n);
	for (size_t i = 0; i < n; ++i) {
		const char *p = v.data() + kHeaderSize + i * kEntrySize;
		Entry e = { detail::le16(p), detail::le16(p + 2),
			    detail::le32(p + 4) };
		if (e.tag != kUser && e.tag != kGroup)
			e.id = kUndefinedId;
		out->push_back(e);
	}
	if (n == 0)
		return 0;
	return valid(*out);
}

// posix_acl_to_xattr().
inline std::string to_xattr(const Acl &acl)
{
	std::string s;
	s.reserve(kHeaderSize + acl.size() * kEntrySize);
	detail::put(&s, kVersion, 4);
	for (const Entry &e : acl) {
		detail::put(&s, e.tag, 2);
		detail::put(&s, e.perm, 2);
		detail::put(&s,
			    (e.tag == kUser || e.tag == kGroup) ? e.id :
								  kUndefinedId,
			    4);
	}
	return s;
}

// posix_acl_equiv_mode(): *mode's rwx bits become the ACL's (group = the
// mask when there is one). 0: the ACL says nothing more than the mode; 1:
// it has named entries or a mask.
inline int equiv_mode(const Acl &acl, uint32_t *mode)
{
	uint32_t m = 0;
	const Entry *mask = nullptr;
	int not_equiv = 0;
	for (const Entry &e : acl) {
		switch (e.tag) {
		case kUserObj:
			m |= (e.perm & 7U) << 6;
			break;
		case kGroupObj:
			m |= (e.perm & 7U) << 3;
			break;
		case kOther:
			m |= e.perm & 7U;
			break;
		case kMask:
			mask = &e;
			not_equiv = 1;
			break;
		case kUser:
		case kGroup:
			not_equiv = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	if (mask)
		m = (m & ~070U) | ((mask->perm & 7U) << 3);
	*mode = (*mode & ~0777U) | m;
	return not_equiv;
}

// posix_acl_create_masq(): a parent's default ACL meets the create mode;
// both are narrowed to what the other allows. 0: the result is equivalent
// to the mode (no access ACL needed), 1: it is not, -EIO: malformed.
inline int create_masq(Acl &acl, uint32_t *mode_p)
{
	uint32_t mode = *mode_p;
	Entry *group_obj = nullptr, *mask = nullptr;
	int not_equiv = 0;
	for (Entry &e : acl) {
		switch (e.tag) {
		case kUserObj:
			e.perm &= uint16_t((mode >> 6) | ~0007U);
			mode &= (uint32_t(e.perm) << 6) | ~0700U;
			break;
		case kUser:
		case kGroup:
			not_equiv = 1;
			break;
		case kGroupObj:
			group_obj = &e;
			break;
		case kOther:
			e.perm &= uint16_t(mode | ~0007U);
			mode &= uint32_t(e.perm) | ~0007U;
			break;
		case kMask:
			mask = &e;
			not_equiv = 1;
			break;
		default:
			return -EIO;
		}
	}
	Entry *g = mask ? mask : group_obj;
	if (!g)
		return -EIO;
	g->perm &= uint16_t((mode >> 3) | ~0007U);
	mode &= (uint32_t(g->perm) << 3) | ~0070U;
	*mode_p = (*mode_p & ~0777U) | (mode & 0777U);
	return not_equiv;
}

// __posix_acl_chmod(): the owner, mask (or group) and other entries take
// the new mode's bits; named entries stay.
inline int chmod(Acl &acl, uint32_t mode)
{
	Entry *group_obj = nullptr, *mask = nullptr;
	for (Entry &e : acl) {
		switch (e.tag) {
		case kUserObj:
			e.perm = uint16_t((mode & 0700U) >> 6);
			break;
		case kUser:
		case kGroup:
			break;
		case kGroupObj:
			group_obj = &e;
			break;
		case kMask:
			mask = &e;
			break;
		case kOther:
			e.perm = uint16_t(mode & 0007U);
			break;
		default:
			return -EIO;
		}
	}
	Entry *g = mask ? mask : group_obj;
	if (!g)
		return -EIO;
	g->perm = uint16_t((mode & 0070U) >> 3);
	return 0;
}

} // namespace zufs::acl

#endif // ZUFS_POSIX_ACL_H
