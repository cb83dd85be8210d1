// SPDX-License-Identifier: BSD-3-Clause
#include "kernel_shim/rw.h"

#include <fcntl.h>
#include <linux/fs.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "kernel_shim/log.h"
#include "kernel_shim/pool.h"

namespace zuf {

namespace {

// Offset of the iomap entries in a zufs_ioc_IO: the message may extend past
// sizeof(zufs_ioc_IO) (GET_MULTY), the entries continue there.
constexpr size_t kIoHead = offsetof(zufs_ioc_IO, iom_e);

uint64_t div_round_up(uint64_t n, uint64_t d) { return (n + d - 1) / d; }

// An answer's hdr.err is 0 or a negative errno (or -EZUFS_RETRY).
int sane_err(int err)
{
	if (err > 0 || (err < -4095 && err != -EZUFS_RETRY)) {
		zuf_err("bad hdr.err %d from the server", err);
		return -EIO;
	}
	return err;
}

// rw_overflow_handler's checks: the iomap must fit the buffer it came in.
// Done on a copy so the server cannot change it between check and use.
bool iomap_fits(const zufs_iomap &ziom, uint32_t iom_cap)
{
	if (ziom.iom_max > iom_cap || ziom.iom_n > ziom.iom_max) {
		zuf_err("illegal iomap: iom_max=%u iom_n=%u cap=%u",
			ziom.iom_max, ziom.iom_n, iom_cap);
		return false;
	}
	return true;
}

// Run the iomap io came back with (iom_n entries, checked by iomap_fits on
// a copy) on the request's pages; the executor checks every entry.
int execute_iomap(const IoTarget &t, const zufs_ioc_IO *io, uint32_t iom_n,
		  zufs::page_list pages)
{
	iomap::ExecEnv env;
	env.pools = t.pools;
	env.app_pages = pages;
	env.ino = t.ino;
	env.unmapper = t.unmapper;
	env.t2 = t.t2;
	return iomap::execute(io->ziom.iom_e, iom_n, env);
}

// The iomap of a RETRY answer did not run (or not to the end): a server
// that handed a token with it (ziom.iomb) hears so, by the request sent
// again with hdr.err = err (the seed's EZUF_RETRY_DONE), so it can undo what
// it prepared for the iomap. Returns err, whatever the server answers.
int retry_failed(const IoTarget &t, zufs_ioc_IO *io, const std::byte *in,
		 zus_iomap_build *token, int err, zufs::page_list pages)
{
	if (!token)
		return err;
	std::memcpy(io, in, kIoHead);
	io->ziom.iomb = token;
	io->hdr.err = err;
	t.channel->dispatch(&io->hdr, pages);
	io->last_pos = io->filepos; // nothing of this chunk was done
	return err;
}

// _IO_dispatch + rw_overflow_handler: send io, executing any iomap the
// server answers with -EZUFS_RETRY and sending io again (with its IN fields
// as they were) until the server answers something else.
// inline_iomap: a successful READ/WRITE answer may carry an iomap (e.g.
// IOM_T2_READ into the request's pages: a cold read served from T2); it is
// executed as part of the request. (GET_MULTY's entries are a block list.)
int IO_dispatch_retry(const IoTarget &t, zufs_ioc_IO *io, uint32_t iom_cap,
		      zufs::page_list pages, bool inline_iomap = false)
{
	alignas(zufs_ioc_IO) std::byte in[kIoHead];
	std::memcpy(in, io, kIoHead);

	for (int tries = 0;; ++tries) {
		t.channel->dispatch(&io->hdr, pages);
		int err = sane_err(io->hdr.err);
		if (!err && inline_iomap && io->ziom.iom_n) {
			zufs_iomap ziom = io->ziom;
			if (!iomap_fits(ziom, iom_cap)) {
				io->last_pos =
					io->filepos; // nothing known good
				return -EIO;
			}
			err = execute_iomap(t, io, ziom.iom_n, pages);
			if (err) // nothing of this chunk is known good
				io->last_pos = io->filepos;
			return err;
		}
		if (err != -EZUFS_RETRY)
			return err;

		zufs_iomap ziom = io->ziom;
		if (!iomap_fits(ziom, iom_cap) || !ziom.iom_n ||
		    !_zufs_iom_pop(io->ziom.iom_e)) {
			zuf_err("ZUSfs violating API: RETRY without an iomap");
			return retry_failed(t, io, in, ziom.iomb, -EIO, pages);
		}
		if (tries == kMaxRetries) {
			zuf_err("still RETRY after %d iomaps", tries);
			return retry_failed(t, io, in, ziom.iomb, -EIO, pages);
		}
		err = execute_iomap(t, io, ziom.iom_n, pages);
		if (err)
			return retry_failed(t, io, in, ziom.iomb, err, pages);
		// Sent again as it was, with the server's token: the iomap
		// of its answer has run (zus_api.h, zufs_ioc_IO).
		std::memcpy(io, in, kIoHead);
		io->ziom.iomb = ziom.iomb;
	}
}

int IO_dispatch(const IoTarget &t, zufs_ioc_IO *io, int operation,
		size_t pgoffset, zufs::page_list pages, uint64_t filepos,
		size_t len)
{
	io->hdr.operation = operation;
	io->hdr.in_len = sizeof(*io);
	io->hdr.out_max = sizeof(*io);
	io->hdr.out_len = sizeof(*io);
	io->hdr.offset = pgoffset;
	io->hdr.len = len;
	io->zus_ii = t.zus_ii;
	io->filepos = filepos;
	io->last_pos = filepos;
	io->ziom.iom_max = ZUFS_WRITE_OP_SPACE;
	io->ziom.iom_n = 0;
	return IO_dispatch_retry(t, io, ZUFS_WRITE_OP_SPACE, pages, true);
}

// wr_unmap is in pages (zufuse) and must lie inside the pages written.
bool wr_unmap_ok(const __zufs_write_unmap &u, uint64_t pos, size_t bytes)
{
	uint64_t first = pos / PAGE_SIZE;
	uint64_t end = div_round_up(pos + bytes, PAGE_SIZE);

	if (u.offset < first || uint64_t(u.offset) + u.len > end) {
		zuf_err("wr_unmap [%u, +%u) outside pages [%lu, %lu)", u.offset,
			u.len, (unsigned long)first, (unsigned long)end);
		return false;
	}
	return true;
}

struct alignas(PAGE_SIZE) ZeroPage {
	std::byte b[PAGE_SIZE] = {};
};
const ZeroPage g_zero_page;

} // namespace

const void *zero_page() { return &g_zero_page; }

uint64_t write_io_flags(int oflags, bool sync_mount)
{
	uint64_t flags = 0;

	// O_SYNC includes the O_DSYNC bit.
	if ((oflags & O_DSYNC) || sync_mount)
		flags |= ZUFS_IO_DSYNC;
	if ((oflags & O_SYNC) == O_SYNC || sync_mount)
		flags |= ZUFS_IO_SYNC;
	if (oflags & O_DIRECT)
		flags |= ZUFS_IO_DIRECT;
	return flags;
}

uint64_t read_io_flags(int oflags, const Readahead *ra, uint64_t pos)
{
	uint64_t flags = 0;

	if (oflags & O_DIRECT)
		flags |= ZUFS_IO_DIRECT;
	if (ra && ra->prev_pos != ~0ULL && ra->prev_pos != pos)
		flags |= ZUFS_IO_RAND;
	return flags;
}

int rwf_to_oflags(int rwf)
{
	int oflags = 0;

	if (rwf & RWF_DSYNC)
		oflags |= O_DSYNC;
	if (rwf & RWF_SYNC)
		oflags |= O_SYNC;
	return oflags;
}

ssize_t zufs_IO(const IoTarget &t, Readahead *ra, int operation, IovIter &ii,
		uint64_t pos, uint64_t flags)
{
	const uint64_t start_pos = pos;
	int err = 0;

	while (ii.count()) {
		zufs_ioc_IO io = {};
		void *pages[ZUS_API_MAP_MAX_PAGES];
		size_t pgoffset;

		if (ra) {
			io.ra.start = ra->start;
			io.ra.ra_pages = ra->ra_pages;
			io.ra.prev_pos = ra->prev_pos;
		}
		io.flags = flags;

		size_t bytes =
			ii.get_pages(pages, ZUS_API_MAP_MAX_SIZE, &pgoffset);
		size_t nump = div_round_up(bytes + pgoffset, PAGE_SIZE);

		err = IO_dispatch(t, &io, operation, pgoffset, { pages, nump },
				  pos, bytes);

		// Checked on a copy: last_pos must be inside the chunk.
		uint64_t last_pos = io.last_pos;
		uint64_t done = 0;
		if (last_pos < pos || last_pos - pos > bytes) {
			zuf_err("last_pos 0x%lx outside [0x%lx, +0x%zx]",
				(unsigned long)last_pos, (unsigned long)pos,
				bytes);
			err = -EIO;
		} else {
			done = last_pos - pos;
		}

		if (operation == ZUFS_OP_WRITE && io.wr_unmap.len && done) {
			__zufs_write_unmap u = io.wr_unmap;
			if (!wr_unmap_ok(u, pos, bytes)) {
				err = -EIO;
				done = 0;
			} else if (t.unmapper) {
				t.unmapper->unmap(t.ino, u.offset, u.len);
			}
		}

		ii.advance(done);
		pos += done;

		if (ra) {
			uint64_t sent_prev = ra->prev_pos;
			ra->start = io.ra.start;
			ra->ra_pages = io.ra.ra_pages;
			ra->prev_pos = io.ra.prev_pos;
			// A server that leaves prev_pos alone gets the
			// kernel's meaning: where the last read ended.
			if (ra->prev_pos == sent_prev)
				ra->prev_pos = pos;
		}

		if (err)
			break;
		if (done < bytes) // short (EOF moved under us): stop
			break;
	}

	// A READ that failed part way fails whole: over FUSE a short read
	// means EOF (the kernel would shrink its i_size), and the bytes after
	// the fault are not there.
	if (pos == start_pos || (err && operation == ZUFS_OP_READ))
		return err;
	return pos - start_pos;
}

ssize_t rw_read(const IoTarget &t, Readahead *ra, IovIter &ii, uint64_t pos,
		uint64_t flags)
{
	uint64_t i_size = __atomic_load_n(&t.zi->i_size, __ATOMIC_ACQUIRE);

	// EOF protection
	if (pos >= i_size)
		return 0;
	ii.truncate(i_size - pos);
	if (!ii.count())
		return 0;
	return zufs_IO(t, ra, ZUFS_OP_READ, ii, pos, flags);
}

ssize_t rw_write(const IoTarget &t, IovIter &ii, uint64_t pos, uint64_t flags)
{
	if (!ii.count())
		return 0;
	if (pos + ii.count() < pos)
		return -EFBIG;
	return zufs_IO(t, nullptr, ZUFS_OP_WRITE, ii, pos, flags);
}

// ~~~ zero-copy read: GET_MULTY / PUT_MULTY ~~~

MappedRead::MappedRead()
    : msg_(div_round_up(kIoHead, sizeof(uint64_t)) + ZUS_API_MAP_MAX_PAGES)
{
	iov_.reserve(ZUS_API_MAP_MAX_PAGES);
}

void MappedRead::release()
{
	iov_.clear();
	bytes_ = 0;
	copied_ = 0;
	if (!pinned_)
		return;
	zufs::Channel *channel = pinned_;
	pinned_ = nullptr;

	// The same message (iom_e/iom_n as the server answered) goes back.
	io()->hdr.operation = ZUFS_OP_PUT_MULTY;
	io()->hdr.err = 0;
	channel->dispatch(&io()->hdr, {});
	if (io()->hdr.err)
		zuf_err("PUT_MULTY => %d", io()->hdr.err);
}

// Check the GET_MULTY answer (on copies) and build the iovec into pool 0.
int MappedRead::map(const IoTarget &t, uint32_t iom_cap)
{
	zufs_ioc_IO *io = this->io();
	const uint64_t filepos = io->filepos;
	const uint64_t len = io->hdr.len;
	const uint64_t last_pos = io->last_pos;
	const zufs_iomap ziom = io->ziom;

	iov_.clear();
	bytes_ = 0;
	copied_ = 0;
	if (last_pos < filepos || last_pos - filepos > len) {
		zuf_err("GET_MULTY last_pos 0x%lx outside [0x%lx, +0x%lx]",
			(unsigned long)last_pos, (unsigned long)filepos,
			(unsigned long)len);
		return -EIO;
	}
	uint64_t first_page = filepos / PAGE_SIZE;
	uint64_t n = last_pos == filepos ?
			     0 :
			     div_round_up(last_pos, PAGE_SIZE) - first_page;
	if (ziom.iom_n != n || n > iom_cap) {
		zuf_err("GET_MULTY iom_n %u for %lu pages", ziom.iom_n,
			(unsigned long)n);
		return -EIO;
	}

	Pools pools(t.pools);
	const __u64 *iom_e = reinterpret_cast<const __u64 *>(
		msg_.data() + kIoHead / sizeof(uint64_t));
	for (uint64_t i = 0; i < n; ++i) {
		__u64 e = iom_e[i];
		uint64_t page_pos = (first_page + i) * PAGE_SIZE;
		uint64_t from = std::max(filepos, page_pos);
		uint64_t to = std::min(last_pos, page_pos + PAGE_SIZE);
		zu_dpp_t dpp = e & ZUFS_IOM_FIRST_VAL_MASK;
		uint64_t bn = zu_dpp_t_bn(dpp);
		const std::byte *block;

		if (_zufs_iom_opt_type(&e) != IOM_T1_READ ||
		    zu_dpp_t_pool(dpp) != 0) {
			zuf_err("GET_MULTY iom_e[%lu]=0x%lx", (unsigned long)i,
				(unsigned long)e);
			return -EIO;
		}
		if (bn == 0) {
			block = static_cast<const std::byte *>(zero_page());
		} else {
			block = static_cast<const std::byte *>(pools.block(bn));
			if (!block) {
				zuf_err("GET_MULTY bn 0x%lx outside pool 0",
					(unsigned long)bn);
				return -EIO;
			}
		}
		auto *base = const_cast<std::byte *>(block) + (from - page_pos);
		size_t seg = to - from;
		// Physically consecutive blocks make one segment.
		if (bn && !iov_.empty() &&
		    static_cast<std::byte *>(iov_.back().iov_base) +
				    iov_.back().iov_len ==
			    base &&
		    iov_.back().iov_base != zero_page())
			iov_.back().iov_len += seg;
		else
			iov_.push_back({ base, seg });
	}
	bytes_ = last_pos - filepos;
	return 0;
}

ssize_t MappedRead::read_rest(const IoTarget &t, uint64_t pos, size_t len,
			      uint64_t flags)
{
	const size_t off = pos % PAGE_SIZE;
	const size_t need = div_round_up(off + len, PAGE_SIZE) * PAGE_SIZE;
	if (need > copy_cap_) {
		copy_.reset(static_cast<std::byte *>(
			std::aligned_alloc(PAGE_SIZE, need)));
		copy_cap_ = copy_ ? need : 0;
		if (!copy_)
			return -ENOMEM;
	}
	iovec v = { copy_.get() + off, len };
	IovIter ii({ &v, 1 });
	ssize_t n = zufs_IO(t, nullptr, ZUFS_OP_READ, ii, pos, flags);
	if (n > 0) {
		iov_.push_back({ copy_.get() + off, size_t(n) });
		bytes_ += n;
		copied_ = n;
	}
	return n;
}

ssize_t rw_read_mapped(const IoTarget &t, size_t size, uint64_t pos,
		       uint64_t flags, MappedRead &out)
{
	out.release();

	uint64_t i_size = __atomic_load_n(&t.zi->i_size, __ATOMIC_ACQUIRE);
	if (pos >= i_size || !size)
		return 0;
	size = std::min<uint64_t>(size, i_size - pos);
	// At most ZUS_API_MAP_MAX_PAGES file pages per message.
	size_t in_page = pos % PAGE_SIZE;
	size = std::min<size_t>(size, ZUS_API_MAP_MAX_SIZE - in_page);

	uint32_t pages = div_round_up(in_page + size, PAGE_SIZE);
	// Room for a RETRY iomap even for one page.
	uint32_t iom_cap = std::max<uint32_t>(pages, ZUFS_WRITE_OP_SPACE);
	size_t msg_size = kIoHead + iom_cap * sizeof(uint64_t);

	zufs_ioc_IO *io = out.io();
	std::memset(io, 0, msg_size);
	io->hdr.operation = ZUFS_OP_GET_MULTY;
	io->hdr.in_len = msg_size;
	io->hdr.out_max = msg_size;
	io->hdr.out_len = msg_size;
	io->hdr.len = size;
	io->zus_ii = t.zus_ii;
	io->filepos = pos;
	io->last_pos = pos;
	io->flags = flags;
	io->ziom.iom_max = iom_cap;

	int err = IO_dispatch_retry(t, io, iom_cap, {});
	if (err)
		return err;
	const uint32_t ret_flags = io->gp_block.ret_flags;
	// From here the server pins blocks (if it mapped any): they go back
	// on every path.
	if (io->ziom.iom_n)
		out.pinned_ = t.channel;
	err = out.map(t, iom_cap);
	if (!err && (ret_flags & ~uint32_t(ZUFS_GBF_READ))) {
		zuf_err("GET_MULTY ret_flags 0x%x", ret_flags);
		err = -EIO;
	}
	if (err) {
		out.release();
		return err;
	}
	// ZUFS_GBF_READ: the rest by READ (last_pos is where map() stopped).
	const uint64_t from = pos + out.bytes_;
	if ((ret_flags & ZUFS_GBF_READ) && from < pos + size) {
		ssize_t n = out.read_rest(t, from, pos + size - from, flags);
		if (n < 0) { // not a short read: that would read as EOF
			out.release();
			return n;
		}
	}
	return out.bytes_;
}

} // namespace zuf
