// SPDX-License-Identifier: BSD-3-Clause
//
// channel.h - the one interface between the shim (zuf role) and the server
// (zus role). It is the user-space stand-in for zuf's dispatch to ZT threads
// (zuf-core.c: __zufc_dispatch) and for zus's ioctls back into zuf.
//
// Contract:
//  - Channel::dispatch() carries one zufs_ioc_* message (zus_api.h) plus the
//    page descriptors of the application's data. The server answers in the
//    same message (hdr.err and the OUT fields) and returns hdr.err.
//  - Page descriptors are page-aligned addresses; the data is at hdr.offset
//    in the first page, hdr.len bytes long. The server copies to/from them
//    directly: bytes are never copied between the two sides.
//  - dispatch() is thread-safe: the shim calls it from any number of threads
//    (today inline from the FUSE worker thread; per-CPU ZT threads can
//    replace the implementation without changing either side).
//  - Nothing that crosses is trusted by the shim: it validates every length,
//    position, iomap and zu_dpp_t the server answers.
#ifndef ZUFS_CHANNEL_H
#define ZUFS_CHANNEL_H

#include <span>

#include "zufs/zus_api.h"

namespace zufs {

// The page array of one request (zuf: struct page **pages, nump).
using page_list = std::span<void *const>;

// zuf -> zus.
class Channel {
  public:
	virtual ~Channel() = default;

	// ZU_IOC_MOUNT: m.hdr.operation is ZUFS_M_MOUNT or ZUFS_M_UMOUNT.
	// Mount options travel as text in m.zmi.po. On failure hdr.err < 0 and
	// m.errmsg holds a one-line reason for the user.
	virtual int mount(zufs_ioc_mount &m) = 0;

	// One operation (hdr->operation is an e_zufs_operation). Returns hdr->err.
	virtual int dispatch(zufs_ioc_hdr *hdr, page_list pages) = 0;
};

// zus -> zuf: what the server may ask of the shim (zuf's ioctls on the
// server's side: ZU_IOC_IOMAP_EXEC). The shim implements it and hands it to
// the server at mount time.
class ZufCalls {
  public:
	virtual ~ZufCalls() = default;

	// Execute ioc->ziom on behalf of the server. wait_for_done != 0: returns
	// when done, with the result in ioc->hdr.err. Otherwise returns at once
	// and the result comes back as a ZUFS_OP_IOM_DONE dispatch.
	virtual int iomap_exec(zufs_ioc_iomap_exec *ioc) = 0;
};

} // namespace zufs

#endif // ZUFS_CHANNEL_H
