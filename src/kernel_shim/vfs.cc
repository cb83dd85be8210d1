// SPDX-License-Identifier: BSD-3-Clause
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

namespace zuf {

namespace {

constexpr uint64_t kRootIno = 1; // FUSE_ROOT_ID

// dev_t <-> the 32-bit i_rdev (the kernel's new_encode_dev).
uint32_t encode_dev(dev_t dev)
{
	unsigned maj = major(dev), mnr = minor(dev);
	return (mnr & 0xff) | (maj << 8) | ((mnr & ~0xffU) << 12);
}

dev_t decode_dev(uint32_t dev)
{
	return makedev((dev & 0xfff00) >> 8,
		       (dev & 0xff) | ((dev >> 12) & 0xfff00));
}

// zus_inode times are signed (before 1970 is negative), as timespec is;
// tv_nsec stays in [0, 1e9) as the kernel keeps it.
timespec ns_to_ts(uint64_t stored)
{
	int64_t ns = int64_t(stored);
	int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
	if (rem < 0) {
		rem += 1000000000LL;
		--sec;
	}
	return { time_t(sec), long(rem) };
}

// Names are 1..ZUFS_NAME_LEN bytes, no '/' or NUL, not "." or "..".
int check_name(std::string_view name)
{
	if (name.size() > ZUFS_NAME_LEN)
		return -ENAMETOOLONG;
	if (name.empty() || name == "." || name == ".." ||
	    name.find_first_of(std::string_view("/\0", 2)) !=
		    std::string_view::npos)
		return -EINVAL;
	return 0;
}

void set_str(zufs_str *str, std::string_view name)
{
	str->len = name.size();
	std::memcpy(str->name, name.data(), name.size());
}

// A stable snapshot of what the server may be changing right now.
zus_inode snapshot(const zus_inode *zi)
{
	zus_inode z;
	std::memcpy(&z, zi, sizeof(z));
	return z;
}

mode_t mode_of(const Inode *inode)
{
	return __atomic_load_n(&inode->zi->i_mode, __ATOMIC_RELAXED);
}

void fill_stat(const zus_inode *zi, struct stat *st)
{
	zus_inode z = snapshot(zi);

	*st = {};
	st->st_ino = z.i_ino;
	st->st_mode = z.i_mode;
	st->st_nlink = z.i_nlink;
	st->st_uid = z.i_uid;
	st->st_gid = z.i_gid;
	if (S_ISCHR(z.i_mode) || S_ISBLK(z.i_mode))
		st->st_rdev = decode_dev(z.i_rdev);
	st->st_size = z.i_size;
	st->st_blocks = z.i_blocks;
	st->st_blksize = PAGE_SIZE;
	st->st_atim = ns_to_ts(z.i_atime);
	st->st_mtim = ns_to_ts(z.i_mtime);
	st->st_ctim = ns_to_ts(z.i_ctime);
}

// One page that travels with a READDIR (entries) or a NEW_INODE (the
// symlink target); per thread.
struct alignas(PAGE_SIZE) Page {
	std::byte b[PAGE_SIZE];
};
thread_local Page t_page;

} // namespace

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

// A pin on a cached inode for the length of one operation.
class Vfs::Pin {
  public:
	Pin(InodeCache &cache, uint64_t ino)
	    : cache_(cache), inode_(cache.get(ino, Ref::pin))
	{
	}
	Pin(InodeCache &cache, Inode *pinned) : cache_(cache), inode_(pinned) {}
	~Pin()
	{
		if (inode_)
			cache_.put(inode_, Ref::pin);
	}
	Pin(const Pin &) = delete;
	Pin &operator=(const Pin &) = delete;

	Inode *get() const { return inode_; }
	Inode *operator->() const { return inode_; }
	explicit operator bool() const { return inode_; }

  private:
	InodeCache &cache_;
	Inode *inode_;
};

File::~File() { cache_.put(inode_, Ref::pin); }

Vfs::Vfs(zufs::Channel &channel, VfsOptions opts, Invalidator *inval)
    : channel_(channel), opts_(std::move(opts)), inval_(inval), cache_(channel)
{
}

Vfs::~Vfs()
{
	if (mounted_)
		umount();
}

// One message to the server; its answer is hdr.err (checked for sanity).
int Vfs::call(zufs_ioc_hdr *hdr, size_t size, zufs::page_list pages)
{
	hdr->err = 0;
	hdr->in_len = size;
	hdr->out_max = size;
	hdr->out_len = size;
	channel_.dispatch(hdr, pages);
	int err = hdr->err;
	if (err > 0 || err < -4095) {
		zuf_err("op %u: bad hdr.err %d", hdr->operation, err);
		return -EIO;
	}
	return err;
}

int Vfs::mount(std::string *errmsg)
{
	if (mounted_)
		return -EBUSY;
	std::string o = opts_.server_options;
	if (int err = t2_open(errmsg))
		return err;
	if (t2_)
		o += ",t2size=" + std::to_string(t2_->size_blocks() *
						 iomap::kT2BlockSize);
	size_t size = sizeof(zufs_ioc_mount) + o.size() + 1;
	std::vector<uint64_t> buf((size + 7) / 8);
	auto *m = reinterpret_cast<zufs_ioc_mount *>(buf.data());

	if (size > UINT16_MAX) {
		*errmsg = "mount options too long";
		t2_close();
		return -EINVAL;
	}
	m->hdr.operation = ZUFS_M_MOUNT;
	m->hdr.in_len = size;
	m->hdr.out_max = size;
	m->zmi.num_cpu = sysconf(_SC_NPROCESSORS_ONLN);
	m->zmi.po.mount_flags = opts_.read_only ? MS_RDONLY : 0;
	if (opts_.sync)
		m->zmi.po.mount_flags |= MS_SYNCHRONOUS;
	m->zmi.po.mount_options_len = o.size();
	std::memcpy(m->zmi.po.mount_options, o.c_str(), o.size() + 1);

	int err = channel_.mount(*m);
	if (err || m->hdr.err) {
		err = err ? err : m->hdr.err;
		*errmsg = std::string(m->errmsg,
				      strnlen(m->errmsg, sizeof(m->errmsg)));
		if (errmsg->empty())
			*errmsg = std::strerror(-err);
		t2_close();
		return err < 0 ? err : -EIO;
	}

	// The answer is checked before anything is built on it.
	pools_ = Pools(m->pools);
	const zus_inode *root_zi = pools_.zi(m->zmi._zi);
	if (pools_.all().empty() || !root_zi || !m->zmi.zus_ii ||
	    m->zmi.s_blocksize_bits != PAGE_SHIFT ||
	    root_zi->i_ino != kRootIno || !S_ISDIR(root_zi->i_mode)) {
		*errmsg =
			"server answered a malformed mount (bad pool or root)";
		sbi_ = m->zmi.zus_sbi;
		mounted_ = true;
		umount();
		return -EIO;
	}
	sbi_ = m->zmi.zus_sbi;
	mounted_ = true;
	acl_ = m->zmi.fs_caps & ZUFS_FSC_ACL_ON;
	// The root's one server reference; the kernel never forgets it.
	cache_.insert(m->zmi.zus_ii, root_zi, Ref::kernel);
	exec_ok_.store(true);
	return 0;
}

int Vfs::umount()
{
	if (!mounted_)
		return -EINVAL;
	// In-flight IOMAP_EXECs complete (and their IOM_DONE reach the
	// server) while it is still mounted.
	t2_close();
	cache_.evict_all();

	zufs_ioc_mount m = {};
	m.hdr.operation = ZUFS_M_UMOUNT;
	m.hdr.in_len = sizeof(m);
	m.hdr.out_max = sizeof(m);
	m.zmi.zus_sbi = sbi_;
	int err = channel_.mount(m);
	if (!err)
		err = m.hdr.err;
	if (err)
		zuf_err("UMOUNT => %d: %.*s", err, int(sizeof(m.errmsg)),
			m.errmsg);
	mounted_ = false;
	sbi_ = nullptr;
	return err;
}

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

void Vfs::forget(uint64_t ino, uint64_t nlookup)
{
	cache_.forget(ino, nlookup);
}

int Vfs::getattr(uint64_t ino, struct stat *out)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	fill_stat(inode->zi, out);
	return 0;
}

int Vfs::setattr(uint64_t ino, const SetAttr &attr, struct stat *out)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	mode_t mode = mode_of(inode.get());

	if (attr.mask) {
		if (opts_.read_only)
			return -EROFS;
		if ((attr.mask & STATX_SIZE) && S_ISDIR(mode))
			return -EISDIR;
		if ((attr.mask & STATX_SIZE) && !S_ISREG(mode))
			return -EINVAL;
		// notify_change: an immutable or append-only inode keeps its
		// mode, owner, size and times; only "now" (utimes(NULL)) may
		// touch an append-only one.
		const uint16_t zf = zi_flags(inode.get());
		if ((zf & (ZUFS_S_IMMUTABLE | ZUFS_S_APPEND)) &&
		    ((attr.mask & (STATX_MODE | STATX_UID | STATX_GID |
				   STATX_SIZE)) ||
		     ((attr.mask & (STATX_ATIME | STATX_MTIME)) &&
		      (!attr.touch || (zf & ZUFS_S_IMMUTABLE)))))
			return -EPERM;

		zufs_ioc_attr ioc = {};
		ioc.hdr.operation = ZUFS_OP_SETATTR;
		ioc.zus_ii = inode->zus_ii;
		ioc.zuf_attr = attr.mask;
		ioc.size = attr.size;
		ioc.atime = attr.atime_ns;
		ioc.mtime = attr.mtime_ns;
		ioc.mode = (mode & S_IFMT) | (attr.mode & 07777);
		ioc.uid = attr.uid;
		ioc.gid = attr.gid;
		int err = call(&ioc.hdr, sizeof(ioc));
		if (err)
			return err;

		uint64_t off = ioc.unmap_offset, len = ioc.unmap_len;
		if (len && inval_) {
			if (len == ~0ULL)
				len = 0; // to EOF
			else if (off + len < off)
				return -EIO;
			inval_->invalidate(ino, off, len);
		}
	}
	fill_stat(inode->zi, out);
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
	err = call(&ioc.hdr, sizeof(ioc), pl);
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

int Vfs::tmpfile(uint64_t parent, mode_t mode, uid_t uid, gid_t gid,
		 Entry *out, mode_t umask)
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
	err = call(&ioc.hdr, sizeof(ioc));
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
	return call(&ioc.hdr, sizeof(ioc));
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
	if (new_inode &&
	    ((err = may_change(ndir.get())) || (err = may_change(new_inode.get()))))
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
	ioc.gid = (mode_of(odir.get()) & S_ISGID) ? snapshot(odir->zi).i_gid : gid;
	return call(&ioc.hdr, sizeof(ioc));
}

// One READDIR message: the entries of one page, each checked against the
// page before it is handed to the sink.
int Vfs::readdir_page(Inode *dir, uint64_t *pos, const DirSink &sink,
		      bool *more, bool *stopped)
{
	std::byte *page = t_page.b;
	void *pages[] = { page };
	zufs_ioc_readdir ioc = {};

	std::memset(page, 0, PAGE_SIZE);
	ioc.hdr.operation = ZUFS_OP_READDIR;
	ioc.hdr.offset = 0;
	ioc.hdr.len = PAGE_SIZE;
	ioc.dir_ii = dir->zus_ii;
	ioc.pos = *pos;
	int err = call(&ioc.hdr, sizeof(ioc), pages);
	if (err)
		return err;

	uint32_t end = ioc.hdr.len;
	if (end > PAGE_SIZE || ioc.hdr.offset != 0) {
		zuf_err("READDIR answered len 0x%x offset 0x%x", end,
			ioc.hdr.offset);
		return -EIO;
	}
	*more = ioc.more;

	uint32_t off = 0;
	unsigned n = 0;
	while (off + E_ZDE_HDR_SIZE <= end) {
		zufs_dir_entry zde;
		std::memcpy(&zde, page + off, E_ZDE_HDR_SIZE);
		uint8_t len = zde.zstr.len;
		if (!len)
			break;
		std::string_view name(
			reinterpret_cast<const char *>(page + off) +
				E_ZDE_HDR_SIZE,
			len);
		if (off + E_ZDE_HDR_SIZE + len > end || !zde.ino ||
		    name.find_first_of(std::string_view("/\0", 2)) !=
			    std::string_view::npos) {
			zuf_err("READDIR: bad entry at 0x%x", off);
			return -EIO;
		}
		DirEntry de = { zde.ino, unsigned(zde.type), zde.pos, name };
		if (!sink(de)) {
			*stopped = true;
			return 0;
		}
		*pos = zde.pos;
		++n;
		off += zufs_dir_entry_len(len);
	}
	if (*more && !n) {
		zuf_err("READDIR: more entries but none given");
		return -EIO;
	}
	return 0;
}

int Vfs::readdir(uint64_t ino, uint64_t pos, const DirSink &sink)
{
	Pin dir(cache_, ino);
	if (!dir)
		return -ESTALE;
	if (!S_ISDIR(mode_of(dir.get())))
		return -ENOTDIR;

	for (;;) {
		bool more = false, stopped = false;
		int err = readdir_page(dir.get(), &pos, sink, &more, &stopped);
		if (err || stopped || !more)
			return err;
	}
}

int Vfs::open(uint64_t ino, int flags, std::unique_ptr<File> *out)
{
	Inode *inode = cache_.get(ino, Ref::pin);
	if (!inode)
		return -ESTALE;
	// The File owns the pin from here.
	auto f = std::make_unique<File>(File::Key(), cache_, inode, flags);
	mode_t mode = mode_of(inode);
	bool writes = (flags & O_ACCMODE) != O_RDONLY;

	if (S_ISDIR(mode) && writes)
		return -EISDIR;
	if (writes && opts_.read_only)
		return -EROFS;
	// may_open: an immutable file opens for reading only, an append-only
	// one for writing only with O_APPEND, never with O_TRUNC.
	const uint16_t zf = zi_flags(inode);
	if ((writes || (flags & O_TRUNC)) &&
	    ((zf & ZUFS_S_IMMUTABLE) ||
	     ((zf & ZUFS_S_APPEND) &&
	      (!(flags & O_APPEND) || (flags & O_TRUNC)))))
		return -EPERM;
	if ((flags & O_TRUNC) && writes && S_ISREG(mode)) {
		SetAttr attr;
		attr.mask = STATX_SIZE;
		struct stat st;
		int err = setattr(ino, attr, &st);
		if (err)
			return err;
	}
	*out = std::move(f);
	return 0;
}

IoTarget Vfs::io_target(Inode *inode)
{
	IoTarget t;
	t.channel = &channel_;
	t.zus_ii = inode->zus_ii;
	t.ino = inode->ino;
	t.zi = inode->zi;
	t.pools = pools_.all();
	t.unmapper = this;
	t.t2 = t2_.get();
	return t;
}

ssize_t Vfs::read(File &f, std::span<const iovec> iov, uint64_t pos, int oflags)
{
	if (!S_ISREG(mode_of(f.inode_)))
		return S_ISDIR(mode_of(f.inode_)) ? -EISDIR : -EINVAL;
	if ((f.flags_ & O_ACCMODE) == O_WRONLY)
		return -EBADF;

	Readahead ra;
	{
		std::lock_guard lock(f.ra_lock_);
		ra = f.ra_;
	}
	IovIter ii(iov);
	uint64_t flags = read_io_flags(f.flags_ | oflags, &ra, pos);
	ssize_t ret = rw_read(io_target(f.inode_), &ra, ii, pos, flags);
	{
		std::lock_guard lock(f.ra_lock_);
		f.ra_ = ra;
	}
	return ret;
}

ssize_t Vfs::read_mapped(File &f, size_t size, uint64_t pos, MappedRead &out,
			 int oflags)
{
	if (!S_ISREG(mode_of(f.inode_)))
		return S_ISDIR(mode_of(f.inode_)) ? -EISDIR : -EINVAL;

	uint64_t flags;
	{
		std::lock_guard lock(f.ra_lock_);
		flags = read_io_flags(f.flags_ | oflags, &f.ra_, pos);
	}
	ssize_t ret =
		rw_read_mapped(io_target(f.inode_), size, pos, flags, out);
	if (ret > 0) {
		std::lock_guard lock(f.ra_lock_);
		f.ra_.prev_pos = pos + ret;
	}
	return ret;
}

ssize_t Vfs::write(File &f, std::span<const iovec> iov, uint64_t pos,
		   int oflags)
{
	if (!S_ISREG(mode_of(f.inode_)))
		return S_ISDIR(mode_of(f.inode_)) ? -EISDIR : -EINVAL;
	if (opts_.read_only)
		return -EROFS;
	if ((f.flags_ & O_ACCMODE) == O_RDONLY && !(oflags & O_ACCMODE))
		return -EBADF;
	// Opened before chattr +i. chattr +S: every write is synchronous.
	const uint16_t zf = zi_flags(f.inode_);
	if (zf & ZUFS_S_IMMUTABLE)
		return -EPERM;

	IovIter ii(iov);
	uint64_t flags = write_io_flags(f.flags_ | oflags,
					opts_.sync || (zf & ZUFS_S_SYNC));
	return rw_write(io_target(f.inode_), ii, pos, flags);
}

int Vfs::remove_privs(uint64_t ino, bool kill_suidgid)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;
	mode_t mode = mode_of(inode.get());
	if (S_ISDIR(mode) || opts_.read_only)
		return 0;
	if (kill_suidgid) {
		mode_t kill = mode & S_ISUID;
		if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
			kill |= S_ISGID;
		if (kill) {
			SetAttr a;
			a.mask = STATX_MODE;
			a.mode = mode & 07777 & ~kill;
			struct stat st;
			if (int err = setattr(ino, a, &st); err)
				return err;
		}
	}
	// i_xattr is 0 while the inode has no extended attribute at all: the
	// common case costs no call.
	if (!__atomic_load_n(&inode->zi->i_xattr, __ATOMIC_RELAXED))
		return 0;
	ssize_t n = getxattr(ino, "security.capability", {});
	if (n == -ENODATA)
		return 0;
	if (n < 0)
		return static_cast<int>(n);
	int err = removexattr(ino, "security.capability");
	return err == -ENODATA ? 0 : err;
}

int Vfs::fsync(uint64_t ino, bool datasync)
{
	Pin inode(cache_, ino);
	if (!inode)
		return -ESTALE;

	zufs_ioc_sync ioc = {};
	ioc.hdr.operation = ZUFS_OP_SYNC;
	ioc.zus_ii = inode->zus_ii;
	ioc.offset = 0;
	ioc.length = ~0ULL;
	ioc.flags = datasync ? ZUFS_SF_DATASYNC : 0;
	return call(&ioc.hdr, sizeof(ioc));
}

int Vfs::statfs(struct statvfs *out)
{
	zufs_ioc_statfs ioc = {};
	ioc.hdr.operation = ZUFS_OP_STATFS;
	ioc.zus_sbi = sbi_;
	int err = call(&ioc.hdr, sizeof(ioc));
	if (err)
		return err;

	const struct statfs64 &s = ioc.statfs_out;
	*out = {};
	out->f_bsize = s.f_bsize;
	out->f_frsize = s.f_frsize ? s.f_frsize : s.f_bsize;
	out->f_blocks = s.f_blocks;
	out->f_bfree = s.f_bfree;
	out->f_bavail = s.f_bavail;
	out->f_files = s.f_files;
	out->f_ffree = s.f_ffree;
	out->f_favail = s.f_ffree;
	out->f_namemax = s.f_namelen ? s.f_namelen : ZUFS_NAME_LEN;
	if (opts_.read_only)
		out->f_flag |= ST_RDONLY;
	return 0;
}

int Vfs::server_stats(zufs_ioc_stats *out)
{
	zufs_ioc_stats ioc = {};
	ioc.hdr.operation = ZUFS_OP_STATS;
	ioc.zus_sbi = sbi_;
	int err = call(&ioc.hdr, sizeof(ioc));
	if (err)
		return err;
	*out = ioc; // numbers to show, nothing the shim acts on
	return 0;
}

void Vfs::unmap(uint64_t ino, uint64_t page_index, uint64_t n_pages)
{
	if (inval_)
		inval_->invalidate(ino, page_index * PAGE_SIZE,
				   n_pages * PAGE_SIZE);
}

bool Vfs::inode_size(uint64_t ino, uint64_t *i_size)
{
	Pin inode(cache_, ino);
	if (!inode)
		return false;
	*i_size = __atomic_load_n(&inode->zi->i_size, __ATOMIC_ACQUIRE);
	return true;
}

int ZufCallsProxy::iomap_exec(zufs_ioc_iomap_exec *ioc)
{
	Vfs *vfs = vfs_.load();
	if (!vfs) {
		ioc->hdr.err = -EINVAL;
		return -EINVAL;
	}
	return vfs->iomap_exec(ioc);
}

} // namespace zuf
