// SPDX-License-Identifier: BSD-3-Clause
//
// host_mount.cc - PluginMount's mount: the image mapped with libpmem, its
// device table checked as zuf's mount did, sbi_alloc/sbi_init, the root;
// and umount.
#include <fcntl.h>
#include <libpmem.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>
#include <vector>

#include "server/plugin/host_mount.h"

namespace zus::plugin {

// ~~~ mount ~~~

int PluginMount::map_image(const std::string &path, std::string *why)
{
	fd_ = open(path.c_str(), O_RDWR | O_CLOEXEC);
	if (fd_ < 0) {
		*why = std::strerror(errno);
		return -errno;
	}
	if (flock(fd_, LOCK_EX | LOCK_NB)) {
		*why = "in use (locked by another mount)";
		return -EBUSY;
	}
	base_ = static_cast<char *>(
		pmem_map_file(path.c_str(), 0, 0, 0, &map_len_, &is_pmem_));
	if (!base_) {
		*why = pmem_errormsg();
		return -EIO;
	}
	if (map_len_ < 2 * MDT_SIZE) {
		*why = "too small for a device table";
		return -EINVAL;
	}
	return 0;
}

// zuf's mount checks (md_mdt_check), each with its own line.
int PluginMount::check_table(std::string *why)
{
	const register_fs_info &rfi = zfi_->rfi;
	auto *mdt = reinterpret_cast<md_dev_table *>(base_);
	auto *copy = reinterpret_cast<md_dev_table *>(base_ + MDT_SIZE);
	char line[200];

	if (le32_to_cpu(mdt->s_magic) != rfi.FS_magic &&
	    le32_to_cpu(copy->s_magic) == rfi.FS_magic &&
	    le16_to_cpu(copy->s_sum) == uint16_t(md_calc_csum(copy)))
		mdt = copy; // zuf: "Magic error in super block: using copy"
	if (le32_to_cpu(mdt->s_magic) != rfi.FS_magic) {
		snprintf(line, sizeof(line),
			 "bad device table: magic 0x%x is not %s's 0x%x "
			 "(format it with its mkfs)",
			 le32_to_cpu(mdt->s_magic), rfi.fsname, rfi.FS_magic);
		*why = line;
		return -EINVAL;
	}
	if (unsigned(mdt_major_version(mdt)) != rfi.FS_ver_major ||
	    unsigned(mdt_minor_version(mdt)) > rfi.FS_ver_minor) {
		snprintf(line, sizeof(line),
			 "bad device table: version %d.%d, %s mounts %u.%u",
			 mdt_major_version(mdt), mdt_minor_version(mdt),
			 rfi.fsname, rfi.FS_ver_major, rfi.FS_ver_minor);
		*why = line;
		return -EINVAL;
	}
	if (le16_to_cpu(mdt->s_sum) != uint16_t(md_calc_csum(mdt))) {
		snprintf(line, sizeof(line),
			 "bad device table: checksum 0x%04x, computed 0x%04x",
			 le16_to_cpu(mdt->s_sum), uint16_t(md_calc_csum(mdt)));
		*why = line;
		return -EINVAL;
	}
	const md_dev_list &dl = mdt->s_dev_list;
	unsigned t1 = le16_to_cpu(dl.t1_count), id = le16_to_cpu(dl.id_index);
	if (t1 != 1 || le16_to_cpu(dl.t2_count) || id) {
		snprintf(line, sizeof(line),
			 "bad device table: %u T1 and %u T2 devices (index %u);"
			 " zufuse mounts one T1 device",
			 t1, le16_to_cpu(dl.t2_count), id);
		*why = line;
		return -EINVAL;
	}
	uint64_t blocks = le64_to_cpu(mdt->s_t1_blocks);
	uint64_t dev_blocks = __dev_id_blocks(&dl.dev_ids[0]);
	if (!blocks || blocks != dev_blocks ||
	    (md_p2o(blocks) & ZUFS_ALLOC_MASK) || md_p2o(blocks) > map_len_) {
		snprintf(line, sizeof(line),
			 "bad device table: %lu T1 blocks (device %lu) for a "
			 "%zu-byte image (2 MiB units)",
			 (unsigned long)blocks, (unsigned long)dev_blocks,
			 map_len_);
		*why = line;
		return -EINVAL;
	}
	mdt_ = *mdt;
	t1_len_ = md_p2o(blocks);
	return 0;
}

int PluginMount::mount(zufs_ioc_mount &m)
{
	if (sbi_) {
		snprintf(m.errmsg, sizeof(m.errmsg), "already mounted");
		return -EBUSY;
	}
	// "pmem=PATH[,size=..][,mkfs][,ro][,noacl][,noatime][,t2size=..]"
	std::string_view opts(
		m.zmi.po.mount_options,
		strnlen(m.zmi.po.mount_options, m.zmi.po.mount_options_len));
	for (size_t at = 0; at <= opts.size();) {
		size_t comma = std::min(opts.find(',', at), opts.size());
		std::string_view o = opts.substr(at, comma - at);
		if (o.starts_with("pmem="))
			path_ = o.substr(5);
		else if (o == "mkfs" || o.starts_with("t2size=")) {
			snprintf(m.errmsg, sizeof(m.errmsg),
				 "%s is not for --fs=%s (format with its own "
				 "mkfs; no tier 2)",
				 o == "mkfs" ? "--mkfs" : "--t2",
				 zfi_->rfi.fsname);
			return -EINVAL;
		}
		at = comma + 1;
	}
	std::string why;
	int err = map_image(path_, &why);
	if (!err)
		err = check_table(&why);
	if (err) {
		snprintf(m.errmsg, sizeof(m.errmsg), "image %s: %s",
			 path_.c_str(), why.c_str());
		teardown();
		return err;
	}

	zus_fs_info *zfi = zfi_;
	zus_sb_info *sbi = zfi->op->sbi_alloc(zfi);
	if (!sbi) {
		snprintf(m.errmsg, sizeof(m.errmsg), "%s: sbi_alloc failed",
			 zfi->rfi.fsname);
		teardown();
		return -ENOMEM;
	}
	sbi->zfi = zfi;
	sbi->kern_sb_id = ++zfi->next_sb_id;
	multi_devices &md = sbi->md;
	md.sbi = sbi;
	md.fd = -1;
	md.p_pmem_addr = base_;
	md.pmem_info.pmem_kern_id = 1;
	md.pmem_info.mdt = mdt_;
	md.pmem_info.dev_index = 0;
	md.dev_index = 0;
	md.user_page_size = zfi->user_page_size;
	sbi_ = sbi; // from here teardown() runs sbi_fini/sbi_free (as zus)
	sbi_fini_ok_ = true;
	if ((err = md_init_from_pmem_info(&md)) ||
	    (md.user_page_size &&
	     (err = fba_alloc(&md.pages,
			      md_t1_blocks(&md) * md.user_page_size)))) {
		snprintf(m.errmsg, sizeof(m.errmsg), "%s: device setup: %s",
			 zfi->rfi.fsname, std::strerror(-err));
		teardown();
		return err;
	}

	size_t zim_size = sizeof(zus_seed_zufs_ioc_mount) +
			  m.zmi.po.mount_options_len + 1;
	std::vector<uint64_t> zim_buf((zim_size + 7) / 8);
	auto *zim = reinterpret_cast<zus_seed_zufs_ioc_mount *>(zim_buf.data());
	zim->hdr.operation = ZUFS_M_MOUNT;
	zim->zmi.zus_zfi = zfi;
	zim->zmi.num_cpu = m.zmi.num_cpu;
	zim->zmi.pmem_kern_id = 1;
	zim->zmi.sb_id = sbi->kern_sb_id;
	zim->zmi.po.mount_flags = m.zmi.po.mount_flags;
	zim->zmi.po.mount_options_len = m.zmi.po.mount_options_len;
	std::memcpy(zim->zmi.po.mount_options, m.zmi.po.mount_options,
		    m.zmi.po.mount_options_len);

	err = sane(zfi->op->sbi_init(sbi, zim), "sbi_init");
	if (err) {
		snprintf(m.errmsg, sizeof(m.errmsg),
			 "%s: sbi_init failed: %s (is the image formatted "
			 "with its mkfs?)",
			 zfi->rfi.fsname, std::strerror(-err));
		teardown();
		return err;
	}
	zus_inode_info *root = sbi->z_root;
	if (!zii_ok(root) || root->zi->i_ino != 1 ||
	    !S_ISDIR(root->zi->i_mode)) {
		snprintf(m.errmsg, sizeof(m.errmsg),
			 "%s: sbi_init answered a bad root inode (it must be "
			 "a directory, ino 1, in pmem)",
			 zfi->rfi.fsname);
		teardown();
		return -EIO;
	}
	root_ = wrap(root);
	icache_[root_->ino] = { root_, 1 };
	m.pools[0].base = reinterpret_cast<uintptr_t>(base_);
	m.pools[0].size = t1_len_;
	m.zmi.zus_sbi = sbi;
	m.zmi.zus_ii = reinterpret_cast<zus_inode_info *>(root_);
	m.zmi._zi = offset_of(root->zi);
	m.zmi.fs_caps = 0; // ACLs stay the kernel's business (no SB_POSIXACL)
	m.zmi.s_blocksize_bits = PAGE_SHIFT;
	return 0;
}

void PluginMount::teardown()
{
	if (sbi_) {
		zus_fs_info *zfi = sbi_->zfi;
		// Parked inodes (and any the shim still held) are evicted;
		// the root stays the plugin's (zus never evicted z_root).
		for (auto &[ino, c] : icache_) {
			if (c.h == root_)
				continue;
			if (c.h->zii->op->evict)
				c.h->zii->op->evict(c.h->zii);
			delete c.h;
		}
		icache_.clear();
		delete root_;
		root_ = nullptr;
		if (sbi_fini_ok_ && zfi->op->sbi_fini)
			zfi->op->sbi_fini(sbi_);
		fba_free(&sbi_->md.pages);
		md_fini(&sbi_->md, nullptr);
		zfi->op->sbi_free(sbi_);
		sbi_ = nullptr;
	}
	if (base_) {
		if (is_pmem_)
			pmem_drain();
		else
			pmem_msync(base_, map_len_);
		pmem_unmap(base_, map_len_);
		base_ = nullptr;
	}
	if (fd_ >= 0) {
		fsync(fd_);
		close(fd_);
		fd_ = -1;
	}
}

int PluginMount::statfs(zufs_ioc_statfs *ioc)
{
	if (!sbi_->op->statfs)
		return -EOPNOTSUPP;
	zufs_ioc_statfs s = *ioc;
	s.zus_sbi = sbi_;
	int err = sane(sbi_->op->statfs(sbi_, &s), "statfs");
	if (!err)
		ioc->statfs_out = s.statfs_out;
	return err;
}

} // namespace zus::plugin
