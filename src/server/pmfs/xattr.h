// SPDX-License-Identifier: BSD-3-Clause
// xattr.h - extended attributes of pmfs inodes (xattr.cc), and the POSIX
// ACLs kept in them (system.posix_acl_*, zus_api.h, zufs/posix_acl.h).
#ifndef ZUS_PMFS_XATTR_H
#define ZUS_PMFS_XATTR_H

#include <cstdint>
#include <vector>

#include "zufs/channel.h"
#include "zufs/zus_api.h"

struct zus_sb_info;
struct zus_inode_info;

namespace zus::pmfs {

class Tx;
struct XAttr;

// Free the xattr blocks of ii (before the inode itself is freed). Caller
// holds ii->rw exclusively.
int xattr_free_all(zus_sb_info &sbi, zus_inode_info *ii);

// A new xattr set of one inode, written to fresh blocks before the
// transaction that links it, so that an inode change and its xattrs commit
// together (NEW_INODE with inherited ACLs, chmod with its access ACL):
//   XattrSwap sw(sbi); sw.chmod(zi, mode);      // build (may do nothing)
//   Tx tx(sbi); ... sw.claim(tx); ... tx.ready();
//   sw.apply(zi); ... tx.commit();
// Fresh blocks not claimed by a transaction go back at destruction. The
// caller holds the inode's rwlock exclusively (or owns the new inode).
class XattrSwap {
  public:
	explicit XattrSwap(zus_sb_info &sbi) : sbi_(sbi) {}
	~XattrSwap();
	XattrSwap(const XattrSwap &) = delete;
	XattrSwap &operator=(const XattrSwap &) = delete;

	// NEW_INODE: the ACLs the message carries (zus_api.h), checked; a new
	// inode has no set yet. Nothing pending when it carries none.
	int new_inode_acls(const zufs_ioc_new_inode *ni, zufs::page_list pages);
	// SETATTR of the mode: zi's access ACL rewritten for mode
	// (posix_acl_chmod). Nothing pending without ACLs or without one.
	int chmod(const zus_inode *zi, uint32_t mode);

	bool pending() const { return pending_; }
	// Phase 1 of the caller's transaction: the fresh blocks become used,
	// the old set's blocks free. Also logs nothing else: the caller logs
	// the zus_inode it changes.
	int claim(Tx &tx);
	// After tx.ready(): zi->i_xattr names the new set.
	void apply(zus_inode *zi) const;

	// The whole set of zi replaced by xs (xattr.cc's records).
	int build(std::vector<XAttr> &xs, const zus_inode *old);

  private:
	zus_sb_info &sbi_;
	bool pending_ = false;
	uint64_t head_ = 0;	      // 0: the new set is empty
	std::vector<uint64_t> fresh_; // head first
	size_t claimed_ = 0;	      // fresh_[0, claimed_) the Tx owns
	std::vector<uint64_t> old_;
};

} // namespace zus::pmfs

#endif // ZUS_PMFS_XATTR_H
