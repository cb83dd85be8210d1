// SPDX-License-Identifier: BSD-3-Clause
//
// vfs.cc - the Vfs (zuf's super.c): mount and umount, the one call that
// sends a message to the server, statfs, the server's own statistics.
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

namespace {

constexpr uint64_t kRootIno = 1; // FUSE_ROOT_ID

} // namespace

uint64_t now_ns()
{
	timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return uint64_t(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
}

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
		o += ",t2size=" +
		     std::to_string(t2_->size_blocks() * iomap::kT2BlockSize);
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
