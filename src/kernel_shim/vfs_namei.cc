// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_namei.cc - the namespace on the Vfs (zuf's namei.c and symlink.c):
// lookup, create (NEW_INODE + ADD_DENTRY), link, unlink/rmdir, rename,
// symlink and readlink.
#include "kernel_shim/vfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "kernel_shim/inode_flags.h"
#include "kernel_shim/log.h"
#include "kernel_shim/vfs_internal.h"

namespace zuf {

// LOOKUP name in dir; the result comes with one reference of kind ref.
int Vfs::lookup_inode(Inode *dir, std::string_view name, Ref ref, Inode **out)
{
	zufs_ioc_lookup ioc = {};
	ioc.hdr.operation = ZUFS_OP_LOOKUP;
	ioc.dir_ii = dir->zus_ii;
	set_str(&ioc.str, name);

	int err = call(&ioc.hdr, sizeof(ioc));
	if (err)
		return err;

	const zus_inode *zi = pools_.zi(ioc._zi);
	if (!zi || !ioc.zus_ii) {
		zuf_err("LOOKUP answered _zi=0x%lx zus_ii=%p",
			(unsigned long)ioc._zi, (void *)ioc.zus_ii);
		if (ioc.zus_ii) { // give its reference back
			zufs_ioc_evict_inode ev = {};
			ev.hdr.operation = ZUFS_OP_EVICT_INODE;
			ev.zus_ii = ioc.zus_ii;
			call(&ev.hdr, sizeof(ev));
		}
		return -EIO;
	}
	*out = cache_.insert(ioc.zus_ii, zi, ref);
	return *out ? 0 : -EIO;
}

void Vfs::fill_entry(Inode *inode, Entry *out)
{
	out->ino = inode->ino;
	out->generation = inode->zi->i_generation;
	fill_stat(inode->zi, &out->attr);
}

int Vfs::lookup(uint64_t parent, std::string_view name, Entry *out)
{
	if (name.size() > ZUFS_NAME_LEN)
		return -ENAMETOOLONG;
	if (check_name(name))
		return -ENOENT;
	Pin dir(cache_, parent);
	if (!dir)
		return -ESTALE;
	if (!S_ISDIR(mode_of(dir.get())))
		return -ENOTDIR;

	Inode *inode;
	int err = lookup_inode(dir.get(), name, Ref::kernel, &inode);
	if (err)
		return err;
	fill_entry(inode, out);
	return 0;
}

int Vfs::new_inode(uint64_t parent, std::string_view name, mode_t mode,
		   dev_t rdev, uid_t uid, gid_t gid, Entry *out,
		   std::string_view symlink, mode_t umask, uint64_t flags)
{
	int err = (flags & ZI_TMPFILE) ? 0 : check_name(name);
	if (err)
		return err;
	Pin dir(cache_, parent);
	if (!dir)
		return -ESTALE;
	zus_inode dz = snapshot(dir->zi);
	if (!S_ISDIR(dz.i_mode))
		return -ENOTDIR;
	if (opts_.read_only)
		return -EROFS;
	if (dz.i_flags & ZUFS_S_IMMUTABLE) // no MAY_WRITE on it
		return -EPERM;

	// BSD group semantics under a setgid directory (inode_init_owner).
	if (dz.i_mode & S_ISGID) {
		gid = dz.i_gid;
		if (S_ISDIR(mode))
			mode |= S_ISGID;
	}
	std::string acl_access, acl_default;
	if ((err = inherit_acls(dir.get(), dz, &mode, umask, &acl_access,
				&acl_default)))
		return err;

	zufs_ioc_new_inode ioc = {};
	ioc.hdr.operation = ZUFS_OP_NEW_INODE;
	ioc.zi.i_mode = mode;
	ioc.zi.i_uid = uid;
	ioc.zi.i_gid = gid;
	if (S_ISCHR(mode) || S_ISBLK(mode))
		ioc.zi.i_rdev = encode_dev(rdev);
	ioc.dir_ii = dir->zus_ii;
	ioc.flags = flags;
	if (!(flags & ZI_TMPFILE))
		set_str(&ioc.str, name);

	// A symlink's target travels in a page, like any data; so do the
	// inherited ACLs (access, then default).
	void *pages[] = { t_page.b };
	zufs::page_list pl;
	std::vector<Page> acl_pages;
	std::vector<void *> acl_pv;
	if (S_ISLNK(mode)) {
		std::memcpy(t_page.b, symlink.data(), symlink.size());
		ioc.hdr.offset = 0;
		ioc.hdr.len = symlink.size();
		pl = pages;
	} else if (size_t n = acl_access.size() + acl_default.size()) {
		acl_pages.resize((n + PAGE_SIZE - 1) / PAGE_SIZE);
		auto *p = reinterpret_cast<char *>(acl_pages.data());
		std::memcpy(p, acl_access.data(), acl_access.size());
		std::memcpy(p + acl_access.size(), acl_default.data(),
			    acl_default.size());
		for (Page &pg : acl_pages)
			acl_pv.push_back(pg.b);
		ioc.acl_access_len = acl_access.size();
		ioc.acl_default_len = acl_default.size();
		ioc.hdr.offset = 0;
		ioc.hdr.len = n;
		pl = { acl_pv.data(), acl_pv.size() };
	}
	const zufs_ioc_new_inode sent = ioc;
	err = retry_nospc([&] {
		ioc = sent;
		return call(&ioc.hdr, sizeof(ioc), pl);
	});
	if (err)
		return err;

	const zus_inode *zi = pools_.zi(ioc._zi);
	if (!zi || !ioc.zus_ii) {
		zuf_err("NEW_INODE answered _zi=0x%lx zus_ii=%p",
			(unsigned long)ioc._zi, (void *)ioc.zus_ii);
		return -EIO;
	}
	Inode *inode = cache_.insert(ioc.zus_ii, zi, Ref::kernel);
	if (!inode)
		return -EIO;
	fill_entry(inode, out);
	return 0;
}

int Vfs::mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
	       uid_t uid, gid_t gid, Entry *out, mode_t umask)
{
	if (!S_ISREG(mode) && !S_ISCHR(mode) && !S_ISBLK(mode) &&
	    !S_ISFIFO(mode) && !S_ISSOCK(mode))
		return -EINVAL;
	return new_inode(parent, name, mode, rdev, uid, gid, out, {}, umask);
}

int Vfs::tmpfile(uint64_t parent, mode_t mode, uid_t uid, gid_t gid, Entry *out,
		 mode_t umask)
{
	return new_inode(parent, {}, S_IFREG | (mode & 07777), 0, uid, gid, out,
			 {}, umask, ZI_TMPFILE);
}

int Vfs::mkdir(uint64_t parent, std::string_view name, mode_t mode, uid_t uid,
	       gid_t gid, Entry *out, mode_t umask)
{
	return new_inode(parent, name, S_IFDIR | (mode & 07777), 0, uid, gid,
			 out, {}, umask);
}

int Vfs::symlink(uint64_t parent, std::string_view name,
		 std::string_view target, uid_t uid, gid_t gid, Entry *out)
{
	if (target.empty() || target.find('\0') != target.npos)
		return -EINVAL;
	if (target.size() > ZUFS_MAX_SYMLINK - 1)
		return -ENAMETOOLONG;
	return new_inode(parent, name, S_IFLNK | 0777, 0, uid, gid, out,
			 target);
}

// The target is read from the zus_inode (short ones inline in i_symlink,
// longer ones in the pool 0 block i_sym_dpp names), as zuf does.
int Vfs::readlink(uint64_t ino, std::string *target)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	zus_inode z = snapshot(inode->zi);
	if (!S_ISLNK(z.i_mode))
		return -EINVAL;
	if (z.i_size == 0 || z.i_size > ZUFS_MAX_SYMLINK - 1) {
		zuf_err("ino %lu: symlink of %lu bytes", (unsigned long)ino,
			(unsigned long)z.i_size);
		return -EIO;
	}
	if (z.i_size < zi_inline_symlink_max(&z)) {
		target->assign(reinterpret_cast<const char *>(z.i_symlink),
			       z.i_size);
		return 0;
	}
	zu_dpp_t dpp = z.i_sym_dpp;
	uint64_t off = zu_dpp_t_val(dpp);
	const zufs_pool_info &pmem = pools_.pmem();
	if (zu_dpp_t_pool(dpp) != 0 || off > pmem.size ||
	    pmem.size - off < z.i_size) {
		zuf_err("ino %lu: symlink at 0x%lx outside pool 0",
			(unsigned long)ino, (unsigned long)dpp);
		return -EIO;
	}
	target->assign(reinterpret_cast<const char *>(pmem.base + off),
		       z.i_size);
	return 0;
}

int Vfs::link(uint64_t ino, uint64_t newparent, std::string_view newname,
	      Entry *out)
{
	int err = check_name(newname);
	if (err)
		return err;
	Pin dir(cache_, newparent);
	if (!dir)
		return -ESTALE;
	if (!S_ISDIR(mode_of(dir.get())))
		return -ENOTDIR;
	if (opts_.read_only)
		return -EROFS;
	// The reference the new entry gives; dropped again on failure.
	Inode *inode = cache_.get(ino, Ref::kernel);
	if (!inode)
		return -ESTALE;
	// vfs_link: no directories, no immutable or append-only source, and
	// no new name in an immutable directory.
	if (S_ISDIR(mode_of(inode)) || may_change(inode) ||
	    is_immutable(dir.get())) {
		cache_.put(inode, Ref::kernel);
		return -EPERM;
	}

	zufs_ioc_dentry ioc = {};
	ioc.hdr.operation = ZUFS_OP_ADD_DENTRY;
	ioc.zus_ii = inode->zus_ii;
	ioc.zus_dir_ii = dir->zus_ii;
	set_str(&ioc.str, newname);
	err = retry_nospc([&] { return call(&ioc.hdr, sizeof(ioc)); });
	if (err) {
		cache_.put(inode, Ref::kernel);
		return err;
	}
	fill_entry(inode, out);
	return 0;
}

int Vfs::remove(uint64_t parent, std::string_view name, bool dir)
{
	int err = check_name(name);
	if (err)
		return name == "." ? -EINVAL : name == ".." ? -ENOTEMPTY : err;
	Pin pdir(cache_, parent);
	if (!pdir)
		return -ESTALE;
	if (!S_ISDIR(mode_of(pdir.get())))
		return -ENOTDIR;
	if (opts_.read_only)
		return -EROFS;

	Inode *found;
	err = lookup_inode(pdir.get(), name, Ref::pin, &found);
	if (err)
		return err;
	// Unpinned at the end: if nobody else holds it and it lost its last
	// link, that is its FREE_INODE.
	Pin child(cache_, found);
	bool is_dir = S_ISDIR(mode_of(child.get()));
	if (dir && !is_dir)
		return -ENOTDIR;
	if (!dir && is_dir)
		return -EISDIR;
	// may_delete: the directory (no MAY_WRITE when immutable, no removal
	// when append-only) and the victim.
	if ((err = may_change(pdir.get())) || (err = may_change(child.get())))
		return err;

	zufs_ioc_dentry ioc = {};
	ioc.hdr.operation = ZUFS_OP_REMOVE_DENTRY;
	ioc.zus_ii = child->zus_ii;
	ioc.zus_dir_ii = pdir->zus_ii;
	set_str(&ioc.str, name);
	if ((err = call(&ioc.hdr, sizeof(ioc))))
		return err;
	note_unlink(child.get());
	return 0;
}

void Vfs::note_unlink(Inode *inode)
{
	if (__atomic_load_n(&inode->zi->i_nlink, __ATOMIC_ACQUIRE) == 0)
		cache_.mark_unlinked(inode);
}

int Vfs::unlink(uint64_t parent, std::string_view name)
{
	return remove(parent, name, false);
}

int Vfs::rmdir(uint64_t parent, std::string_view name)
{
	return remove(parent, name, true);
}

int Vfs::rename(uint64_t parent, std::string_view name, uint64_t newparent,
		std::string_view newname, unsigned flags, uid_t uid, gid_t gid)
{
	if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT))
		return -EINVAL;
	if ((flags & RENAME_EXCHANGE) &&
	    (flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)))
		return -EINVAL;
	int err = check_name(name);
	if (!err)
		err = check_name(newname);
	if (err)
		return err;

	Pin odir(cache_, parent);
	Pin ndir(cache_, newparent);
	if (!odir || !ndir)
		return -ESTALE;
	if (!S_ISDIR(mode_of(odir.get())) || !S_ISDIR(mode_of(ndir.get())))
		return -ENOTDIR;
	if (opts_.read_only)
		return -EROFS;

	Inode *found;
	err = lookup_inode(odir.get(), name, Ref::pin, &found);
	if (err)
		return err;
	Pin old_inode(cache_, found);

	found = nullptr;
	err = lookup_inode(ndir.get(), newname, Ref::pin, &found);
	if (err && err != -ENOENT)
		return err;
	Pin new_inode(cache_, found);

	if (new_inode) {
		if (flags & RENAME_NOREPLACE)
			return -EEXIST;
		if (new_inode.get() == old_inode.get())
			return 0; // two names of one inode: nothing to do
		bool odirp = S_ISDIR(mode_of(old_inode.get()));
		bool ndirp = S_ISDIR(mode_of(new_inode.get()));
		if (!(flags & RENAME_EXCHANGE) && odirp && !ndirp)
			return -ENOTDIR;
		if (!(flags & RENAME_EXCHANGE) && !odirp && ndirp)
			return -EISDIR;
	} else if (flags & RENAME_EXCHANGE) {
		return -ENOENT;
	}
	// may_delete of the old name (and of the new one it replaces, or of
	// both names for an exchange); may_create in an immutable new dir.
	if ((err = may_change(odir.get())) ||
	    (err = may_change(old_inode.get())) || is_immutable(ndir.get()))
		return err ? err : -EPERM;
	if (new_inode && ((err = may_change(ndir.get())) ||
			  (err = may_change(new_inode.get()))))
		return err;

	zufs_ioc_rename ioc = {};
	ioc.hdr.operation = ZUFS_OP_RENAME;
	ioc.old_dir_ii = odir->zus_ii;
	ioc.new_dir_ii = ndir->zus_ii;
	ioc.old_zus_ii = old_inode->zus_ii;
	ioc.new_zus_ii = new_inode ? new_inode->zus_ii : nullptr;
	set_str(&ioc.old_d_str, name);
	set_str(&ioc.new_d_str, newname);
	ioc.time = now_ns();
	ioc.flags = flags;
	// The whiteout's owner: inode_init_owner() in the old directory.
	ioc.uid = uid;
	ioc.gid = (mode_of(odir.get()) & S_ISGID) ? snapshot(odir->zi).i_gid :
						    gid;
	if ((err = call(&ioc.hdr, sizeof(ioc))))
		return err;
	if (new_inode && !(flags & RENAME_EXCHANGE))
		note_unlink(new_inode.get()); // replaced: its last name?
	return 0;
}

} // namespace zuf
