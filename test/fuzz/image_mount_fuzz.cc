// SPDX-License-Identifier: BSD-3-Clause
//
// libFuzzer target over the image mount path: a 16 MiB image with a small
// tree (and an interrupted transaction) is built once, the same way the
// server tests build theirs; each input is a list of patches into its
// metadata (superblock, journal lanes, bitmap, inode table, first data
// blocks). The patched image must be refused with a message, or mounted
// (recovery included), read (readdir, lookup, read) and checked without a
// crash, a hang or an out-of-bounds access.
//
// Input: records of [region u8][offset u16][len u8][len bytes]; region % 6:
// 0 superblock (checksum recomputed), 1 superblock raw, 2 journal, 3 bitmap,
// 4 inode table, 5 data area (first 64 blocks).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "server/crc32c.h"
#include "server/pmfs/check.h"
#include "server/pmfs/layout.h"
#include "server/server.h"
#include "zufs/zus_api.h"

namespace {

using zus::pmfs::pmfs_super;
constexpr size_t kSize = 16 << 20;
std::vector<char> g_template;
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

int dispatch(zufs::Channel &srv, zufs_ioc_hdr *h, size_t len, zufs::page_list pages = {})
{
	h->in_len = static_cast<__u16>(len);
	h->out_max = static_cast<__u16>(len);
	return srv.dispatch(h, pages);
}

struct Page {
	Page() : p(static_cast<char *>(aligned_alloc(4096, 4096))) { memset(p.get(), 0, 4096); }
	struct F {
		void operator()(char *x) const { free(x); }
	};
	std::unique_ptr<char, F> p;
};

zus_inode_info *create(zufs::Channel &srv, zus_inode_info *dir, const char *name, uint16_t mode,
		       const std::string &sym = "")
{
	zufs_ioc_new_inode ni{};
	ni.hdr.operation = ZUFS_OP_NEW_INODE;
	ni.zi.i_mode = mode;
	ni.dir_ii = dir;
	ni.str.len = static_cast<__u8>(strlen(name));
	memcpy(ni.str.name, name, ni.str.len);
	Page pg;
	memcpy(pg.p.get(), sym.data(), sym.size());
	void *pages[1] = {pg.p.get()};
	ni.hdr.len = static_cast<__u32>(sym.size());
	if (dispatch(srv, &ni.hdr, sizeof(ni), {pages, 1}))
		return nullptr;
	return ni.zus_ii;
}

void write(zufs::Channel &srv, zus_inode_info *f, uint64_t pos, size_t n)
{
	Page pg;
	memset(pg.p.get(), 'x', 4096);
	void *pages[1] = {pg.p.get()};
	zufs_ioc_IO io{};
	io.hdr.operation = ZUFS_OP_WRITE;
	io.hdr.len = static_cast<__u32>(n);
	io.zus_ii = f;
	io.filepos = pos;
	dispatch(srv, &io.hdr, sizeof(io), {pages, 1});
}

// Walk the root: readdir, lookup and read every entry, one level deep.
void exercise(zufs::Channel &srv, zus_inode_info *root)
{
	Page pg;
	void *pages[1] = {pg.p.get()};
	zufs_ioc_readdir rd{};
	rd.hdr.operation = ZUFS_OP_READDIR;
	rd.hdr.len = 4096;
	rd.dir_ii = root;
	if (dispatch(srv, &rd.hdr, sizeof(rd), {pages, 1}))
		return;
	for (uint32_t at = 0; at + E_ZDE_HDR_SIZE <= rd.hdr.len && at < 4096;) {
		zufs_dir_entry de;
		memcpy(&de, pg.p.get() + at, std::min<size_t>(sizeof(de), 4096 - at));
		if (!de.zstr.len)
			break;
		at += zufs_dir_entry_len(de.zstr.len);
		zufs_ioc_lookup lk{};
		lk.hdr.operation = ZUFS_OP_LOOKUP;
		lk.dir_ii = root;
		lk.str = de.zstr;
		if (dispatch(srv, &lk.hdr, sizeof(lk)))
			continue;
		Page data;
		void *dp[1] = {data.p.get()};
		zufs_ioc_IO io{};
		io.hdr.operation = ZUFS_OP_READ;
		io.hdr.len = 4096;
		io.zus_ii = lk.zus_ii;
		dispatch(srv, &io.hdr, sizeof(io), {dp, 1});
		zufs_ioc_evict_inode e{};
		e.hdr.operation = ZUFS_OP_EVICT_INODE;
		e.zus_ii = lk.zus_ii;
		dispatch(srv, &e.hdr, sizeof(e));
	}
	create(srv, root, "fuzz-new", S_IFREG | 0644);
}

void build_template()
{
	g_path = "/dev/shm/zufs-image-fuzz-" + std::to_string(getpid());
	unlink(g_path.c_str());
	auto srv = zus::make_server();
	zufs_ioc_mount m;
	if (do_mount(*srv, "pmem=" + g_path + ",size=" + std::to_string(kSize) + ",mkfs", &m)) {
		fprintf(stderr, "template: %s\n", m.errmsg);
		abort();
	}
	zus_inode_info *root = m.zmi.zus_ii;
	zus_inode_info *d = create(*srv, root, "dir", S_IFDIR | 0755);
	zus_inode_info *f = create(*srv, root, "file", S_IFREG | 0644);
	write(*srv, f, 0, 4096);
	write(*srv, f, 5 << 20, 100); // a tree of height 2
	create(*srv, root, "link", S_IFLNK | 0777, std::string(200, 'l'));
	if (d)
		create(*srv, d, "inner", S_IFREG | 0644);
	do_umount(*srv, m.zmi.zus_sbi);
	int fd = open(g_path.c_str(), O_RDONLY);
	g_template.resize(kSize);
	if (pread(fd, g_template.data(), kSize, 0) != ssize_t(kSize))
		abort();
	close(fd);
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***)
{
	build_template();
	atexit([] { unlink(g_path.c_str()); });
	return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::vector<char> img = g_template;
	const auto &sb = *reinterpret_cast<const pmfs_super *>(g_template.data());
	bool recrc = false;
	for (size_t at = 0; at + 4 <= size;) {
		uint8_t region = data[at] % 6;
		uint16_t off = static_cast<uint16_t>(data[at + 1] | data[at + 2] << 8);
		uint8_t len = data[at + 3];
		at += 4;
		len = static_cast<uint8_t>(std::min<size_t>(len, size - at));
		uint64_t base = 0, span = 0;
		switch (region) {
		case 0:
		case 1: base = 0, span = sizeof(pmfs_super), recrc |= region == 0; break;
		case 2: base = sb.s_journal_blk * 4096, span = uint64_t(sb.s_lanes) * sb.s_lane_blocks * 4096; break;
		case 3: base = sb.s_bitmap_blk * 4096, span = sb.s_bitmap_blocks * 4096; break;
		case 4: base = sb.s_itable_blk * 4096, span = (sb.s_data_blk - sb.s_itable_blk) * 4096; break;
		case 5: base = sb.s_data_blk * 4096, span = 64 * 4096; break;
		}
		uint64_t o = base + (uint64_t(off) * (region >= 2 ? 8 : 1)) % span;
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
	exercise(*srv, m.zmi.zus_ii);
	do_umount(*srv, m.zmi.zus_sbi);
	return 0;
}
