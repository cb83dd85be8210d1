// SPDX-License-Identifier: BSD-3-Clause
//
// xattr_ns.h - the xattr namespaces of zus_api.h's ZUFS_XF_* and their name
// prefixes, once for both sides: the shim splits "user.x" into
// ZUFS_XF_USER and "x" for zufs_ioc_xattr; the servers (pmfs, the plugin
// host) put the prefix back. Header only.
#ifndef ZUFS_XATTR_NS_H
#define ZUFS_XATTR_NS_H

#include <cstdint>
#include <string_view>

#include "zufs/zus_api.h"

namespace zufs::xattr {

struct Namespace {
	std::string_view prefix; // "user." ...
	uint8_t type;		 // ZUFS_XF_*
};

inline constexpr Namespace kNamespaces[] = {
	{ "user.", ZUFS_XF_USER },
	{ "trusted.", ZUFS_XF_TRUSTED },
	{ "security.", ZUFS_XF_SECURITY },
	{ "system.", ZUFS_XF_SYSTEM },
};

// The prefix of namespace type, "" for an unknown type.
constexpr std::string_view prefix(unsigned type)
{
	for (const Namespace &ns : kNamespaces)
		if (ns.type == type)
			return ns.prefix;
	return {};
}

} // namespace zufs::xattr

#endif // ZUFS_XATTR_NS_H
