// SPDX-License-Identifier: BSD-3-Clause
//
// vfs_dir.cc - READDIR on the Vfs (zuf's directory.c).
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

} // namespace zuf
