// SPDX-License-Identifier: BSD-3-Clause
//
// harness.h - drive the server through zufs::Channel exactly as the shim
// does: real zufs_ioc_* messages and page descriptors, an image in /dev/shm.
#ifndef ZUS_TEST_HARNESS_H
#define ZUS_TEST_HARNESS_H

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server/pmfs/check.h"
#include "server/server.h"
#include "zufs/zus_api.h"

namespace ztest {

inline std::string temp_image()
{
	char tmpl[] = "/dev/shm/zufs-test-XXXXXX";
	int fd = mkstemp(tmpl);
	close(fd);
	return tmpl;
}

// Page-aligned buffer and its page descriptors; data at `offset` in page 0.
struct Buf {
	Buf(size_t len, uint32_t offset = 0) : len(len), offset(offset)
	{
		npages = (offset + len + PAGE_SIZE - 1) / PAGE_SIZE;
		if (!npages)
			npages = 1;
		mem.reset(static_cast<char *>(
			aligned_alloc(PAGE_SIZE, npages * PAGE_SIZE)));
		memset(mem.get(), 0, npages * PAGE_SIZE);
		for (size_t i = 0; i < npages; ++i)
			pages.push_back(mem.get() + i * PAGE_SIZE);
	}
	char *data() { return mem.get() + offset; }
	std::string str() const { return std::string(mem.get() + offset, len); }
	zufs::page_list list() const { return { pages.data(), pages.size() }; }

	struct Free {
		void operator()(char *p) const { free(p); }
	};
	size_t len;
	uint32_t offset;
	size_t npages;
	std::unique_ptr<char, Free> mem;
	std::vector<void *> pages;
};

struct Inode {
	zus_inode_info *ii = nullptr;
	zus_inode *zi = nullptr;
	explicit operator bool() const { return ii; }
};

class Fs {
  public:
	explicit Fs(uint64_t size = 64ULL << 20, bool keep_file = false)
	    : path(temp_image()), size_(size), keep_(keep_file)
	{
	}
	~Fs()
	{
		if (mounted)
			umount();
		srv.reset();
		if (!keep_)
			::unlink(path.c_str());
	}

	int mount(const std::string &extra = "mkfs")
	{
		std::string opts =
			"pmem=" + path + ",size=" + std::to_string(size_);
		if (!extra.empty())
			opts += "," + extra;
		return mount_opts(opts);
	}
	int mount_opts(const std::string &opts)
	{
		if (!srv)
			srv = zus::make_server();
		std::vector<char> buf(sizeof(zufs_ioc_mount) + opts.size() + 1);
		auto *m = reinterpret_cast<zufs_ioc_mount *>(buf.data());
		m->hdr.operation = ZUFS_M_MOUNT;
		m->hdr.in_len = static_cast<__u16>(buf.size());
		m->zmi.po.mount_options_len =
			static_cast<__u32>(opts.size() + 1);
		memcpy(m->zmi.po.mount_options, opts.c_str(), opts.size() + 1);
		int err = srv->mount(*m);
		errmsg = m->errmsg;
		if (err)
			return err;
		sbi = m->zmi.zus_sbi;
		root.ii = m->zmi.zus_ii;
		base = reinterpret_cast<char *>(m->pools[0].base);
		pool_size = m->pools[0].size;
		root.zi = zi_at(m->zmi._zi);
		mounted = true;
		return 0;
	}
	int umount()
	{
		zufs_ioc_mount m{};
		m.hdr.operation = ZUFS_M_UMOUNT;
		m.hdr.in_len = sizeof(m);
		m.zmi.zus_sbi = sbi;
		mounted = false;
		return srv->mount(m);
	}
	int remount(const std::string &extra = "")
	{
		int err = umount();
		if (err)
			return err;
		return mount(extra);
	}

	zus_inode *zi_at(zu_dpp_t d) const
	{
		return reinterpret_cast<zus_inode *>(base + zu_dpp_t_val(d));
	}

	int dispatch(zufs_ioc_hdr *hdr, size_t len, zufs::page_list pages = {})
	{
		hdr->in_len = static_cast<__u16>(len);
		hdr->out_max = static_cast<__u16>(len);
		return srv->dispatch(hdr, pages);
	}

	static void set_str(zufs_str &s, const std::string &name)
	{
		s.len = static_cast<__u8>(name.size());
		memcpy(s.name, name.data(), name.size());
	}

	int create(Inode dir, const std::string &name, uint16_t mode,
		   Inode *out = nullptr, const std::string &symlink = "")
	{
		zufs_ioc_new_inode ni{};
		ni.hdr.operation = ZUFS_OP_NEW_INODE;
		ni.zi.i_mode = mode;
		ni.zi.i_uid = 1000;
		ni.zi.i_gid = 100;
		ni.dir_ii = dir.ii;
		set_str(ni.str, name);
		Buf b(symlink.size());
		memcpy(b.data(), symlink.data(), symlink.size());
		ni.hdr.len = static_cast<__u32>(symlink.size());
		int err = dispatch(&ni.hdr, sizeof(ni), b.list());
		if (!err && out) {
			out->ii = ni.zus_ii;
			out->zi = zi_at(ni._zi);
		} else if (!err) {
			evict(Inode{ ni.zus_ii, nullptr });
		}
		return err;
	}
	int lookup(Inode dir, const std::string &name, Inode *out = nullptr)
	{
		zufs_ioc_lookup lk{};
		lk.hdr.operation = ZUFS_OP_LOOKUP;
		lk.dir_ii = dir.ii;
		set_str(lk.str, name);
		int err = dispatch(&lk.hdr, sizeof(lk));
		if (!err && out) {
			out->ii = lk.zus_ii;
			out->zi = zi_at(lk._zi);
		} else if (!err) {
			evict(Inode{ lk.zus_ii, nullptr });
		}
		return err;
	}
	int evict(Inode i, uint64_t flags = 0, int op = ZUFS_OP_EVICT_INODE)
	{
		zufs_ioc_evict_inode e{};
		e.hdr.operation = static_cast<__u16>(op);
		e.zus_ii = i.ii;
		e.flags = flags;
		return dispatch(&e.hdr, sizeof(e));
	}
	int dentry(int op, Inode dir, Inode child, const std::string &name)
	{
		zufs_ioc_dentry d{};
		d.hdr.operation = static_cast<__u16>(op);
		d.zus_ii = child.ii;
		d.zus_dir_ii = dir.ii;
		set_str(d.str, name);
		return dispatch(&d.hdr, sizeof(d));
	}
	int link(Inode dir, Inode child, const std::string &name)
	{
		return dentry(ZUFS_OP_ADD_DENTRY, dir, child, name);
	}
	// Unlink by name, as the shim does: LOOKUP, REMOVE_DENTRY, drop the
	// reference (FREE_INODE when it was the last link).
	int unlink(Inode dir, const std::string &name)
	{
		Inode c;
		int err = lookup(dir, name, &c);
		if (err)
			return err;
		err = dentry(ZUFS_OP_REMOVE_DENTRY, dir, c, name);
		evict(c, 0,
		      c.zi->i_nlink ? ZUFS_OP_EVICT_INODE : ZUFS_OP_FREE_INODE);
		return err;
	}
	int rename(Inode odir, const std::string &oname, Inode ndir,
		   const std::string &nname, uint64_t flags = 0)
	{
		Inode src, tgt;
		int err = lookup(odir, oname, &src);
		if (err)
			return err;
		lookup(ndir, nname, &tgt);
		zufs_ioc_rename r{};
		r.hdr.operation = ZUFS_OP_RENAME;
		r.old_dir_ii = odir.ii;
		r.new_dir_ii = ndir.ii;
		r.old_zus_ii = src.ii;
		r.new_zus_ii = tgt.ii;
		set_str(r.old_d_str, oname);
		set_str(r.new_d_str, nname);
		r.flags = flags;
		err = dispatch(&r.hdr, sizeof(r));
		evict(src, 0,
		      src.zi->i_nlink ? ZUFS_OP_EVICT_INODE :
					ZUFS_OP_FREE_INODE);
		if (tgt)
			evict(tgt, 0,
			      tgt.zi->i_nlink ? ZUFS_OP_EVICT_INODE :
						ZUFS_OP_FREE_INODE);
		return err;
	}

	int io(int op, Inode f, uint64_t pos, Buf &b,
	       uint64_t *last_pos = nullptr, uint64_t flags = 0,
	       zufs_ioc_IO *out = nullptr)
	{
		zufs_ioc_IO io{};
		io.hdr.operation = static_cast<__u16>(op);
		io.hdr.offset = b.offset;
		io.hdr.len = static_cast<__u32>(b.len);
		io.zus_ii = f.ii;
		io.filepos = pos;
		io.last_pos = pos;
		io.flags = flags;
		int err = dispatch(&io.hdr, sizeof(io), b.list());
		if (last_pos)
			*last_pos = io.last_pos;
		if (out)
			*out = io;
		return err;
	}
	int write(Inode f, uint64_t pos, const std::string &data,
		  uint32_t offset = 0, uint64_t flags = 0,
		  zufs_ioc_IO *out = nullptr)
	{
		Buf b(data.size(), offset);
		memcpy(b.data(), data.data(), data.size());
		uint64_t last;
		int err = io(ZUFS_OP_WRITE, f, pos, b, &last, flags, out);
		if (!err && last != pos + data.size())
			return -1000;
		return err;
	}
	// Reads of more than one request's worth are split like the shim does.
	std::string read(Inode f, uint64_t pos, size_t len, uint32_t offset = 0,
			 int *errp = nullptr)
	{
		if (len > ZUS_API_MAP_MAX_SIZE) {
			std::string all;
			while (len) {
				size_t n = std::min<size_t>(
					len, ZUS_API_MAP_MAX_SIZE);
				std::string part =
					read(f, pos, n, offset, errp);
				all += part;
				if (part.size() < n)
					break;
				pos += n;
				len -= n;
			}
			return all;
		}
		Buf b(len, offset);
		memset(b.mem.get(), 0x5a, b.npages * PAGE_SIZE);
		uint64_t last;
		int err = io(ZUFS_OP_READ, f, pos, b, &last);
		if (errp)
			*errp = err;
		if (err)
			return "<err>";
		return std::string(b.data(), last - pos);
	}
	int setattr(Inode f, uint32_t mask, uint64_t size, uint32_t mode = 0,
		    zufs_ioc_attr *out = nullptr)
	{
		zufs_ioc_attr a{};
		a.hdr.operation = ZUFS_OP_SETATTR;
		a.zus_ii = f.ii;
		a.zuf_attr = mask;
		a.size = size;
		a.mode = mode;
		int err = dispatch(&a.hdr, sizeof(a));
		if (out)
			*out = a;
		return err;
	}
	int statfs(struct statfs64 *st)
	{
		zufs_ioc_statfs s{};
		s.hdr.operation = ZUFS_OP_STATFS;
		s.zus_sbi = sbi;
		int err = dispatch(&s.hdr, sizeof(s));
		*st = s.statfs_out;
		return err;
	}

	// FALLOCATE (mode: FALLOC_FL_*) of [off, off + len).
	int falloc(Inode f, uint64_t mode, uint64_t off, uint64_t len,
		   zufs_ioc_IO *out = nullptr)
	{
		zufs_ioc_IO io{};
		io.hdr.operation = ZUFS_OP_FALLOCATE;
		io.zus_ii = f.ii;
		io.filepos = off;
		io.last_pos = off + len;
		io.flags = mode;
		int err = dispatch(&io.hdr, sizeof(io));
		if (out)
			*out = io;
		return err;
	}
	// LLSEEK (whence: SEEK_DATA, SEEK_HOLE): the offset, or -errno.
	int64_t seek(Inode f, uint64_t off, unsigned whence)
	{
		zufs_ioc_seek s{};
		s.hdr.operation = ZUFS_OP_LLSEEK;
		s.zus_ii = f.ii;
		s.offset_in = off;
		s.whence = whence;
		int err = dispatch(&s.hdr, sizeof(s));
		return err ? err : int64_t(s.offset_out);
	}
	// COPY (copy_file_range) of len bytes; *copied: how many were.
	int copy(Inode src, uint64_t pos_in, Inode dst, uint64_t pos_out,
		 uint64_t len, uint64_t *copied)
	{
		zufs_ioc_clone c{};
		c.hdr.operation = ZUFS_OP_COPY;
		c.src_zus_ii = src.ii;
		c.dst_zus_ii = dst.ii;
		c.pos_in = pos_in;
		c.pos_out = pos_out;
		c.len = len;
		int err = dispatch(&c.hdr, sizeof(c));
		*copied = c.copied;
		return err;
	}
	// SYNC of f's file system (f: its inode, or the root for a syncfs).
	int sync(Inode f)
	{
		zufs_ioc_sync s{};
		s.hdr.operation = ZUFS_OP_SYNC;
		s.zus_ii = f.ii;
		return dispatch(&s.hdr, sizeof(s));
	}
	// XATTR_SET (flags: XATTR_CREATE, XATTR_REPLACE, ZUFS_XATTR_REMOVE);
	// the value at offset 100 of its page, as an application's buffer is.
	int xattr_set(Inode f, uint8_t type, const std::string &name,
		      const std::string &val, uint16_t flags = 0)
	{
		zufs_ioc_xattr x{};
		x.hdr.operation = ZUFS_OP_XATTR_SET;
		x.zus_ii = f.ii;
		x.type = type;
		x.name_len = static_cast<uint8_t>(name.size());
		memcpy(x.name, name.data(), name.size());
		x.user_flags = flags;
		Buf b(val.size(), 100);
		memcpy(b.data(), val.data(), val.size());
		x.hdr.offset = 100;
		x.hdr.len = static_cast<uint32_t>(val.size());
		return dispatch(&x.hdr, sizeof(x), b.list());
	}
	// XATTR_GET (or XATTR_LIST, name "") into a buffer of room bytes at
	// offset 7 of its page: *val the answer, *size the value's size.
	int xattr_get(Inode f, uint8_t type, const std::string &name,
		      uint32_t room, std::string *val, uint32_t *size = nullptr,
		      int op = ZUFS_OP_XATTR_GET)
	{
		zufs_ioc_xattr x{};
		x.hdr.operation = static_cast<uint16_t>(op);
		x.zus_ii = f.ii;
		x.type = type;
		x.name_len = static_cast<uint8_t>(name.size());
		memcpy(x.name, name.data(), name.size());
		Buf b(room ? room : 1, 7);
		x.hdr.offset = 7;
		x.hdr.len = room;
		int err = dispatch(&x.hdr, sizeof(x), b.list());
		if (size)
			*size = x.value_size;
		if (!err)
			*val = std::string(b.data(), x.hdr.len);
		return err;
	}

	struct Dirent {
		std::string name;
		uint64_t ino;
		uint8_t type;
		uint64_t pos;
	};
	// One READDIR call from pos with a buffer of cap bytes.
	int readdir_once(Inode dir, uint64_t pos, uint32_t cap,
			 std::vector<Dirent> *out, uint64_t *next, bool *more,
			 uint32_t offset = 0)
	{
		Buf b(cap, offset);
		zufs_ioc_readdir rd{};
		rd.hdr.operation = ZUFS_OP_READDIR;
		rd.hdr.offset = offset;
		rd.hdr.len = cap;
		rd.dir_ii = dir.ii;
		rd.pos = pos;
		int err = dispatch(&rd.hdr, sizeof(rd), b.list());
		if (err)
			return err;
		for (uint32_t at = 0; at + E_ZDE_HDR_SIZE <= rd.hdr.len;) {
			zufs_dir_entry de;
			memcpy(&de, b.data() + at,
			       std::min<size_t>(sizeof(de), rd.hdr.len - at));
			if (!de.zstr.len)
				break;
			out->push_back({ std::string(de.zstr.name, de.zstr.len),
					 de.ino, static_cast<uint8_t>(de.type),
					 de.pos });
			at += zufs_dir_entry_len(de.zstr.len);
		}
		*next = rd.pos;
		*more = rd.more;
		return 0;
	}
	std::vector<Dirent> readdir(Inode dir, uint32_t cap = 4096)
	{
		std::vector<Dirent> all;
		uint64_t pos = 0;
		bool more = true;
		while (more) {
			size_t before = all.size();
			if (readdir_once(dir, pos, cap, &all, &pos, &more))
				break;
			if (all.size() == before)
				break;
		}
		return all;
	}

	// fsck of the mapping; the file system must be idle.
	zus::pmfs::CheckResult check() const
	{
		return zus::pmfs::check_mapping(base, pool_size);
	}

	std::string path;
	std::unique_ptr<zufs::Channel> srv;
	zus_sb_info *sbi = nullptr;
	Inode root;
	char *base = nullptr;
	uint64_t pool_size = 0;
	std::string errmsg;
	bool mounted = false;

  private:
	uint64_t size_;
	bool keep_;
};

// A GET_MULTY / PUT_MULTY message with room for iom_max iomap entries;
// the answer of a GET stays in it for the PUT.
struct Multy {
	std::vector<char> buf;
	zufs_ioc_IO *io;
	explicit Multy(uint32_t iom_max)
	    : buf(offsetof(zufs_ioc_IO, iom_e) + iom_max * sizeof(__u64))
	{
		io = reinterpret_cast<zufs_ioc_IO *>(buf.data());
		io->ziom.iom_max = iom_max;
	}
	int call(Fs &fs, int op, Inode f, uint64_t pos, uint32_t len)
	{
		io->hdr.operation = static_cast<__u16>(op);
		io->zus_ii = f.ii;
		if (op == ZUFS_OP_GET_MULTY) {
			io->filepos = pos;
			io->hdr.len = len;
		}
		return fs.dispatch(&io->hdr, buf.size());
	}
	__u64 *e()
	{
		return reinterpret_cast<__u64 *>(buf.data() +
						 offsetof(zufs_ioc_IO, iom_e));
	}
	// The pmem block entry i maps.
	uint64_t bn(int i) { return zu_dpp_t_bn(_zufs_iom_first_val(e() + i)); }
};

// The shim's IOM_DONE for the async iomap iomb of sbi: its result.
inline int iom_done(zufs::Channel *srv, zus_sb_info *sbi, zus_iomap_build *iomb,
		    int result)
{
	zufs_ioc_iomap_done d = {};
	d.hdr.operation = ZUFS_OP_IOM_DONE;
	d.hdr.in_len = sizeof(d);
	d.hdr.err = result;
	d.zus_sbi = sbi;
	d.iomb = iomb;
	return srv->dispatch(&d.hdr, {});
}

// Byte-exact comparison that reports where two buffers differ instead of
// printing them.
inline bool same(const std::string &a, const std::string &b)
{
	if (a == b)
		return true;
	size_t i = 0;
	while (i < a.size() && i < b.size() && a[i] == b[i])
		++i;
	fprintf(stderr, "  differ: sizes %zu vs %zu, first difference at %zu\n",
		a.size(), b.size(), i);
	return false;
}

inline std::string pattern(size_t n, unsigned seed)
{
	std::string s(n, '\0');
	uint32_t x = seed * 2654435761u + 1;
	for (auto &c : s) {
		x = x * 1103515245u + 12345u;
		c = static_cast<char>(x >> 16);
	}
	return s;
}

} // namespace ztest

#endif // ZUS_TEST_HARNESS_H
