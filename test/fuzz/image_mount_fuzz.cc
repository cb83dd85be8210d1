// SPDX-License-Identifier: BSD-3-Clause
//
// libFuzzer target over the image mount path: 16 MiB images are built once,
// the same way the server tests build theirs, and each input is a list of
// patches into one of them. The patched image must be refused with a
// message, or mounted (recovery included) and then walked -- everything
// reachable from the root: readdir (every page), lookup, the zus_inode,
// read, getxattr/listxattr, readlink (as the shim does it, from the
// zus_inode) -- and changed a little, without a crash, a hang or an
// out-of-bounds access.
//
// Templates (the first input byte, bit 0):
//   0  clean: a directory of several blocks (300 names, long ones too, a
//      subdirectory), files with data (a tree of height 2), inline and
//      block xattrs (on a file and on a directory), a short symlink and a
//      long one (its own block).
//   1  crashed: the same tree, then an open file unlinked (an orphan in the
//      orphan table), a truncation stopped mid-transaction (a live journal
//      lane, kZiTruncating, an orphan-table entry); mounting it recovers.
// Patches follow: records of [region u8][offset u16][len u8][len bytes];
// region % 7: 0 superblock (checksum recomputed), 1 superblock raw, 2
// journal, 3 bitmap, 4 inode table and orphan table, 5 data area (first 64
// blocks), 6 the structure blocks of the template (directory blocks, radix
// nodes, xattr blocks, the symlink block): offset low byte picks the block,
// high byte * 16 the byte in it.
#include <fcntl.h>
#include <linux/stat.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/crc32c.h"
#include "server/pmfs/check.h"
#include "server/pmfs/journal.h"
#include "server/pmfs/layout.h"
#include "server/server.h"
#include "zufs/zus_api.h"

namespace {

using zus::pmfs::pmfs_super;
constexpr size_t kSize = 16 << 20;
std::vector<char> g_template[2];
std::vector<uint64_t> g_struct_blocks; // region 6
std::string g_path;

int do_mount(zufs::Channel &srv, const std::string &opts, zufs_ioc_mount *out)
{
	std::vector<char> buf(sizeof(zufs_ioc_mount) + opts.size() + 1);
	auto *m = reinterpret_cast<zufs_ioc_mount *>(buf.data());
	m->hdr.operation = ZUFS_M_MOUNT;
	m->hdr.in_len = static_cast<__u16>(buf.size());
	m->zmi.po.mount_options_len = static_cast<__u32>(opts.size() + 1);
	memcpy(m->zmi.po.mount_options, opts.c_str(), opts.size() + 1);
	int e = srv.mount(*m);
	*out = *m;
	return e;
}

void do_umount(zufs::Channel &srv, zus_sb_info *sbi)
{
	zufs_ioc_mount u{};
	u.hdr.operation = ZUFS_M_UMOUNT;
	u.hdr.in_len = sizeof(u);
	u.zmi.zus_sbi = sbi;
	srv.mount(u);
}

int dispatch(zufs::Channel &srv, zufs_ioc_hdr *h, size_t len,
	     zufs::page_list pages = {})
{
	h->in_len = static_cast<__u16>(len);
	h->out_max = static_cast<__u16>(len);
	return srv.dispatch(h, pages);
}

// n zeroed pages and their descriptors.
struct Pages {
	explicit Pages(size_t n = 1)
	    : mem(static_cast<char *>(aligned_alloc(4096, n * 4096))), n(n)
	{
		memset(mem.get(), 0, n * 4096);
		for (size_t i = 0; i < n; ++i)
			ptrs.push_back(mem.get() + i * 4096);
	}
	char *data() { return mem.get(); }
	zufs::page_list list() { return { ptrs.data(), ptrs.size() }; }
	struct F {
		void operator()(char *x) const { free(x); }
	};
	std::unique_ptr<char, F> mem;
	size_t n;
	std::vector<void *> ptrs;
};

zus_inode_info *create(zufs::Channel &srv, zus_inode_info *dir,
		       const std::string &name, uint16_t mode,
		       const std::string &sym = "")
{
	zufs_ioc_new_inode ni{};
	ni.hdr.operation = ZUFS_OP_NEW_INODE;
	ni.zi.i_mode = mode;
	ni.dir_ii = dir;
	ni.str.len = static_cast<__u8>(name.size());
	memcpy(ni.str.name, name.data(), name.size());
	Pages pg;
	memcpy(pg.data(), sym.data(), std::min<size_t>(sym.size(), 4096));
	ni.hdr.len = static_cast<__u32>(sym.size());
	if (dispatch(srv, &ni.hdr, sizeof(ni), pg.list()))
		return nullptr;
	return ni.zus_ii;
}

void evict(zufs::Channel &srv, zus_inode_info *ii, int op = ZUFS_OP_EVICT_INODE)
{
	zufs_ioc_evict_inode e{};
	e.hdr.operation = static_cast<__u16>(op);
	e.zus_ii = ii;
	dispatch(srv, &e.hdr, sizeof(e));
}

void write(zufs::Channel &srv, zus_inode_info *f, uint64_t pos, size_t n,
	   char fill = 'x')
{
	Pages pg(4);
	memset(pg.data(), fill, 4 * 4096);
	zufs_ioc_IO io{};
	io.hdr.operation = ZUFS_OP_WRITE;
	io.hdr.len = static_cast<__u32>(std::min<size_t>(n, 4 * 4096));
	io.zus_ii = f;
	io.filepos = pos;
	dispatch(srv, &io.hdr, sizeof(io), pg.list());
}

void setxattr(zufs::Channel &srv, zus_inode_info *f, uint8_t type,
	      const std::string &name, const std::string &value)
{
	zufs_ioc_xattr x{};
	x.hdr.operation = ZUFS_OP_XATTR_SET;
	x.zus_ii = f;
	x.type = type;
	x.name_len = static_cast<__u8>(name.size());
	memcpy(x.name, name.data(), name.size());
	Pages pg((value.size() + 4095) / 4096 + 1);
	memcpy(pg.data(), value.data(), value.size());
	x.hdr.len = static_cast<__u32>(value.size());
	dispatch(srv, &x.hdr, sizeof(x), pg.list());
}

zus_inode_info *lookup(zufs::Channel &srv, zus_inode_info *dir,
		       const zufs_str &s, zu_dpp_t *zi = nullptr)
{
	zufs_ioc_lookup lk{};
	lk.hdr.operation = ZUFS_OP_LOOKUP;
	lk.dir_ii = dir;
	lk.str = s;
	if (dispatch(srv, &lk.hdr, sizeof(lk)))
		return nullptr;
	if (zi)
		*zi = lk._zi;
	return lk.zus_ii;
}

zufs_str str(const std::string &name)
{
	zufs_str s{};
	s.len = static_cast<__u8>(name.size());
	memcpy(s.name, name.data(), name.size());
	return s;
}

// ---- the walk ----

struct Walk {
	zufs::Channel &srv;
	const char *base; // pool 0
	size_t pool_size;
	int budget = 4000; // lookups in all: bounded work per input
	uint64_t sink = 0;
	// What the walk reached (ZUFS_FUZZ_STATS=1 prints it for the templates).
	int visited = 0, dirs = 0, reads = 0, links = 0, xgets = 0;

	// The zus_inode the server answered, checked as the shim checks it.
	const zus_inode *zi_at(zu_dpp_t d) const
	{
		uint64_t off = zu_dpp_t_val(d);
		if (zu_dpp_t_pool(d) != 0 || off % 128 ||
		    off > pool_size - sizeof(zus_inode))
			abort(); // the server must answer a valid zus_inode
		return reinterpret_cast<const zus_inode *>(base + off);
	}

	void read_some(zus_inode_info *ii, const zus_inode *z)
	{
		Pages pg(4);
		uint64_t size = z->i_size;
		for (uint64_t pos :
		     { uint64_t(0), size > 8192 ? size - 8192 : 0, size / 2 }) {
			zufs_ioc_IO io{};
			io.hdr.operation = ZUFS_OP_READ;
			io.hdr.len = 4 * 4096;
			io.zus_ii = ii;
			io.filepos = pos;
			if (dispatch(srv, &io.hdr, sizeof(io), pg.list()))
				continue;
			++reads;
			if (io.last_pos < pos || io.last_pos - pos > 4 * 4096)
				abort(); // more than asked for
		}
	}

	// readlink as the shim does it (vfs_namei.cc): inline, or a pool-0 range.
	void readlink(const zus_inode *z)
	{
		if (z->i_size == 0 || z->i_size > ZUFS_MAX_SYMLINK - 1)
			return;
		if (z->i_size < sizeof(z->i_symlink)) {
			sink += z->i_symlink[z->i_size - 1];
			++links;
			return;
		}
		uint64_t off = zu_dpp_t_val(z->i_sym_dpp);
		if (zu_dpp_t_pool(z->i_sym_dpp) != 0 || off > pool_size ||
		    pool_size - off < z->i_size)
			return;
		sink += static_cast<uint8_t>(base[off + z->i_size - 1]);
		++links;
	}

	void xattrs(zus_inode_info *ii)
	{
		Pages pg(33);
		zufs_ioc_xattr x{};
		x.hdr.operation = ZUFS_OP_XATTR_LIST;
		x.zus_ii = ii;
		x.hdr.len = 33 * 4096;
		if (dispatch(srv, &x.hdr, sizeof(x), pg.list()))
			return;
		if (x.hdr.len > 33 * 4096)
			abort();
		std::string list(pg.data(), x.hdr.len);
		static const std::pair<const char *, uint8_t> ns[] = {
			{ "user.", ZUFS_XF_USER },
			{ "trusted.", ZUFS_XF_TRUSTED },
			{ "security.", ZUFS_XF_SECURITY },
			{ "system.", ZUFS_XF_SYSTEM }
		};
		for (size_t at = 0; at < list.size();) {
			size_t z = list.find('\0', at);
			if (z == list.npos)
				z = list.size();
			std::string full = list.substr(at, z - at);
			at = z + 1;
			for (auto &[pre, type] : ns) {
				size_t pl = strlen(pre);
				if (full.compare(0, pl, pre) ||
				    full.size() - pl > ZUFS_NAME_LEN ||
				    full.size() == pl)
					continue;
				zufs_ioc_xattr g{};
				g.hdr.operation = ZUFS_OP_XATTR_GET;
				g.zus_ii = ii;
				g.type = type;
				g.name_len =
					static_cast<__u8>(full.size() - pl);
				memcpy(g.name, full.data() + pl, g.name_len);
				g.hdr.len = 0; // the size first, then the value
				if (dispatch(srv, &g.hdr, sizeof(g)))
					break;
				g.hdr.len = 33 * 4096;
				++xgets;
				if (!dispatch(srv, &g.hdr, sizeof(g),
					      pg.list()) &&
				    g.hdr.len > 33 * 4096)
					abort();
				break;
			}
		}
	}

	void dir(zus_inode_info *d, int depth)
	{
		Pages pg(2);
		uint64_t pos = 0;
		for (int pass = 0; pass < 64 && budget > 0; ++pass) {
			zufs_ioc_readdir rd{};
			rd.hdr.operation = ZUFS_OP_READDIR;
			rd.hdr.len = 2 * 4096;
			rd.dir_ii = d;
			rd.pos = pos;
			if (dispatch(srv, &rd.hdr, sizeof(rd), pg.list()))
				return;
			if (rd.hdr.len > 2 * 4096)
				abort();
			for (uint32_t at = 0;
			     at + E_ZDE_HDR_SIZE <= rd.hdr.len;) {
				zufs_dir_entry de;
				memcpy(&de, pg.data() + at,
				       std::min<size_t>(sizeof(de),
							rd.hdr.len - at));
				if (!de.zstr.len)
					break;
				at += zufs_dir_entry_len(de.zstr.len);
				if (at > rd.hdr.len)
					abort(); // an entry past what the server wrote
				std::string_view name(de.zstr.name,
						      de.zstr.len);
				if (name == "." || name == "..")
					continue;
				visit(d, de.zstr, depth);
			}
			if (!rd.more || rd.pos == pos)
				return;
			pos = rd.pos;
		}
	}

	void visit(zus_inode_info *parent, const zufs_str &name, int depth)
	{
		if (--budget < 0)
			return;
		zu_dpp_t d;
		zus_inode_info *ii = lookup(srv, parent, name, &d);
		if (!ii)
			return;
		const zus_inode *z = zi_at(d);
		++visited;
		switch (z->i_mode & S_IFMT) {
		case S_IFDIR:
			++dirs;
			xattrs(ii);
			if (depth < 6)
				dir(ii, depth + 1);
			break;
		case S_IFREG:
			read_some(ii, z);
			xattrs(ii);
			break;
		case S_IFLNK:
			readlink(z);
			xattrs(ii);
			break;
		default:
			break;
		}
		evict(srv, ii);
	}
};

// Walk everything, then change a little: a new file, a write, an xattr,
// an unlink.
void exercise(zufs::Channel &srv, const zufs_ioc_mount &m, bool stats = false)
{
	zus_inode_info *root = m.zmi.zus_ii;
	Walk w{ srv, reinterpret_cast<const char *>(m.pools[0].base),
		m.pools[0].size };
	w.xattrs(root);
	w.dir(root, 0);
	if (stats)
		fprintf(stderr,
			"walk: %d inodes (%d directories), %d reads, %d readlinks, %d xattr "
			"values\n",
			w.visited, w.dirs, w.reads, w.links, w.xgets);
	zus_inode_info *n = create(srv, root, "fuzz-new", S_IFREG | 0644);
	if (n) {
		write(srv, n, 0, 5000);
		setxattr(srv, n, ZUFS_XF_USER, "fuzz", "value");
		evict(srv, n);
	}
	if (zus_inode_info *big = lookup(srv, root, str("big"))) {
		create(srv, big, "fuzz-in-big", S_IFREG | 0644);
		if (zus_inode_info *e = lookup(srv, big, str("n007"))) {
			zufs_ioc_dentry rm{};
			rm.hdr.operation = ZUFS_OP_REMOVE_DENTRY;
			rm.zus_ii = e;
			rm.zus_dir_ii = big;
			rm.str = str("n007");
			dispatch(srv, &rm.hdr, sizeof(rm));
			evict(srv, e, ZUFS_OP_FREE_INODE);
		}
		evict(srv, big);
	}
}

// ---- the templates ----

void build_tree(zufs::Channel &srv, zus_inode_info *root)
{
	zus_inode_info *d = create(srv, root, "dir", S_IFDIR | 0755);
	zus_inode_info *f = create(srv, root, "file", S_IFREG | 0644);
	write(srv, f, 0, 4096);
	write(srv, f, 5 << 20, 100); // a tree of height 2
	evict(srv,
	      create(srv, root, "link", S_IFLNK | 0777, std::string(20, 'l')));
	evict(srv, create(srv, root, "longlink", S_IFLNK | 0777,
			  std::string(3000, 'L')));
	if (d)
		evict(srv, create(srv, d, "inner", S_IFREG | 0644));
	// A directory of several blocks: 300 names, every fifth one long.
	zus_inode_info *big = create(srv, root, "big", S_IFDIR | 0755);
	for (int i = 0; big && i < 300; ++i) {
		char name[8];
		snprintf(name, sizeof(name), "n%03d", i);
		std::string nm = name;
		if (i % 5 == 4)
			nm += std::string(200 + i % 50, char('a' + i % 26));
		evict(srv,
		      create(srv, big, nm,
			     i % 50 == 0 ? S_IFDIR | 0755 : S_IFREG | 0644));
	}
	// Xattrs: inline on a file and on the big directory, in blocks on
	// another file.
	zus_inode_info *x = create(srv, root, "xinline", S_IFREG | 0644);
	setxattr(srv, x, ZUFS_XF_USER, "a", "1");
	setxattr(srv, x, ZUFS_XF_USER, "b", std::string(100, 'b'));
	setxattr(srv, x, ZUFS_XF_TRUSTED, "t", "trusted-value");
	if (big)
		setxattr(srv, big, ZUFS_XF_USER, "dir", "on-a-directory");
	zus_inode_info *xb = create(srv, root, "xblock", S_IFREG | 0644);
	setxattr(srv, xb, ZUFS_XF_USER, "big", std::string(9000, 'X'));
	setxattr(srv, xb, ZUFS_XF_USER, "small", "s");
	write(srv, xb, 0, 3000);
	for (zus_inode_info *ii : { d, f, big, x, xb })
		if (ii)
			evict(srv, ii);
}

std::vector<char> read_image()
{
	std::vector<char> img(kSize);
	int fd = open(g_path.c_str(), O_RDONLY);
	if (pread(fd, img.data(), kSize, 0) != ssize_t(kSize))
		abort();
	close(fd);
	return img;
}

// Every block of a directory, radix tree, xattr set or symlink of img.
void collect_struct_blocks(const std::vector<char> &img)
{
	const auto &sb = *reinterpret_cast<const pmfs_super *>(img.data());
	auto blk = [&](uint64_t bn) { return img.data() + bn * 4096; };
	auto ok = [&](uint64_t bn) {
		return bn >= sb.s_data_blk && bn < sb.s_nblocks;
	};
	auto add = [&](uint64_t bn) {
		if (ok(bn) && g_struct_blocks.size() < 256)
			g_struct_blocks.push_back(bn);
	};
	for (uint64_t ino = 1; ino <= sb.s_inode_count; ++ino) {
		auto *z = reinterpret_cast<const zus_inode *>(
				  blk(sb.s_itable_blk)) +
			  (ino - 1);
		if (z->i_ino != ino)
			continue;
		if (z->i_xattr && ok(z->i_xattr)) {
			add(z->i_xattr);
			auto *h = reinterpret_cast<
				const zus::pmfs::pmfs_xattr_head *>(
				blk(z->i_xattr));
			for (uint32_t i = 0;
			     i < h->nblk && i < zus::pmfs::kXattrMaxBlocks; ++i)
				add(h->bn[i]);
		}
		const bool walk = S_ISDIR(z->i_mode) || S_ISLNK(z->i_mode) ||
				  z->i_on_disk.a[1] > 0; // radix nodes of files
		if (!walk || !z->i_on_disk.a[0])
			continue;
		// Nodes (and, for directories and symlinks, the data blocks).
		std::vector<std::pair<uint64_t, uint64_t>> todo{
			{ z->i_on_disk.a[0], z->i_on_disk.a[1] }
		};
		while (!todo.empty()) {
			auto [bn, h] = todo.back();
			todo.pop_back();
			if (!ok(bn))
				continue;
			if (h == 0) {
				if (!S_ISREG(z->i_mode))
					add(bn);
				continue;
			}
			add(bn);
			auto *slots =
				reinterpret_cast<const uint64_t *>(blk(bn));
			for (int s = 0; s < 512 && h <= 4; ++s)
				if (slots[s])
					todo.push_back({ slots[s], h - 1 });
		}
	}
	if (g_struct_blocks.empty())
		g_struct_blocks.push_back(sb.s_data_blk);
}

bool crash_second_tx(zus::pmfs::TxPoint p)
{
	static int n = 0;
	return p == zus::pmfs::TxPoint::kModified && ++n == 2;
}

void build_templates()
{
	g_path = "/dev/shm/zufs-image-fuzz-" + std::to_string(getpid());
	unlink(g_path.c_str());
	{
		auto srv = zus::make_server();
		zufs_ioc_mount m;
		if (do_mount(*srv,
			     "pmem=" + g_path +
				     ",size=" + std::to_string(kSize) + ",mkfs",
			     &m)) {
			fprintf(stderr, "template: %s\n", m.errmsg);
			abort();
		}
		build_tree(*srv, m.zmi.zus_ii);
		do_umount(*srv, m.zmi.zus_sbi);
		g_template[0] = read_image();
	}
	collect_struct_blocks(g_template[0]);
	{
		auto srv = zus::make_server();
		zufs_ioc_mount m;
		if (do_mount(*srv, "pmem=" + g_path, &m))
			abort();
		zus_inode_info *root = m.zmi.zus_ii;
		// An orphan: unlinked while open.
		zus_inode_info *o =
			create(*srv, root, "orphan", S_IFREG | 0644);
		write(*srv, o, 0, 9000);
		zufs_ioc_dentry rm{};
		rm.hdr.operation = ZUFS_OP_REMOVE_DENTRY;
		rm.zus_ii = o;
		rm.zus_dir_ii = root;
		rm.str = str("orphan");
		dispatch(*srv, &rm.hdr, sizeof(rm));
		// A truncation stopped after its first transaction changed the
		// inode but before it committed.
		zus_inode_info *t = create(*srv, root, "trunc", S_IFREG | 0644);
		for (int i = 0; i < 40; ++i)
			write(*srv, t, uint64_t(i) * 16384, 16384);
		zus::pmfs::set_tx_fault_hook(crash_second_tx);
		zufs_ioc_attr a{};
		a.hdr.operation = ZUFS_OP_SETATTR;
		a.zus_ii = t;
		a.zuf_attr = STATX_SIZE;
		a.size = 100;
		dispatch(*srv, &a.hdr, sizeof(a));
		zus::pmfs::set_tx_fault_hook(nullptr);
		g_template[1] = read_image();
		do_umount(*srv, m.zmi.zus_sbi); // crashed: leaves the media
	}
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	build_templates();
	atexit([] { unlink(g_path.c_str()); });
	if (getenv("ZUFS_FUZZ_STATS"))
		for (auto &t : g_template) {
			int fd = open(g_path.c_str(), O_WRONLY);
			if (pwrite(fd, t.data(), kSize, 0) != ssize_t(kSize))
				abort();
			close(fd);
			auto srv = zus::make_server();
			zufs_ioc_mount m;
			if (do_mount(*srv, "pmem=" + g_path, &m))
				abort();
			exercise(*srv, m, true);
			do_umount(*srv, m.zmi.zus_sbi);
		}
	if (getenv("ZUFS_FUZZ_STATS"))
		fprintf(stderr, "template: %zu structure blocks\n",
			g_struct_blocks.size());
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const int which = size ? data[0] & 1 : 0;
	std::vector<char> img = g_template[which];
	const auto &sb =
		*reinterpret_cast<const pmfs_super *>(g_template[which].data());
	bool recrc = false;
	for (size_t at = size ? 1 : 0; at + 4 <= size;) {
		uint8_t region = data[at] % 7;
		uint16_t off =
			static_cast<uint16_t>(data[at + 1] | data[at + 2] << 8);
		uint8_t len = data[at + 3];
		at += 4;
		len = static_cast<uint8_t>(std::min<size_t>(len, size - at));
		uint64_t base = 0, span = 0, o = 0;
		switch (region) {
		case 0:
		case 1:
			base = 0, span = sizeof(pmfs_super),
			recrc |= region == 0;
			break;
		case 2:
			base = sb.s_journal_blk * 4096,
			span = uint64_t(sb.s_lanes) * sb.s_lane_blocks * 4096;
			break;
		case 3:
			base = sb.s_bitmap_blk * 4096,
			span = sb.s_bitmap_blocks * 4096;
			break;
		case 4:
			base = sb.s_itable_blk * 4096,
			span = (sb.s_data_blk - sb.s_itable_blk) * 4096;
			break;
		case 5:
			base = sb.s_data_blk * 4096, span = 64 * 4096;
			break;
		case 6:
			base = g_struct_blocks[(off & 0xff) %
					       g_struct_blocks.size()] *
			       4096,
			span = 4096;
			break;
		}
		if (region == 6)
			o = base + (off >> 8) * 16;
		else
			o = base +
			    (uint64_t(off) * (region >= 2 ? 8 : 1)) % span;
		for (uint8_t i = 0; i < len && o + i < kSize; ++i)
			img[o + i] = static_cast<char>(data[at + i]);
		at += len;
	}
	if (recrc) {
		auto *s = reinterpret_cast<pmfs_super *>(img.data());
		s->s_crc = 0;
		s->s_crc = zus::crc32c(0, s, sizeof(*s));
		memcpy(img.data() + 2048, s, sizeof(*s));
	}
	int fd = open(g_path.c_str(), O_WRONLY);
	if (pwrite(fd, img.data(), kSize, 0) != ssize_t(kSize))
		abort();
	close(fd);

	auto srv = zus::make_server();
	zufs_ioc_mount m;
	if (do_mount(*srv, "pmem=" + g_path, &m)) {
		if (!m.errmsg[0]) // a refusal must say why
			abort();
		return 0;
	}
	exercise(*srv, m);
	do_umount(*srv, m.zmi.zus_sbi);
	return 0;
}
