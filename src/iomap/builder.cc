// SPDX-License-Identifier: BSD-3-Clause
//
// builder.cc - append encoded iomap operations (see builder.h).
#include "iomap/builder.h"

#include <cerrno>

namespace iomap {

uint32_t op_size(unsigned type)
{
	switch (type) {
	case IOM_NONE:
	case IOM_T1_WRITE:
	case IOM_T1_READ:
		return 1;
	case IOM_T2_WRITE:
	case IOM_T2_READ:
		return sizeof(zufs_iom_t2_io) / sizeof(uint64_t);
	case IOM_T2_WRITE_LEN:
	case IOM_T2_READ_LEN:
		return sizeof(zufs_iom_t2_io_len) / sizeof(uint64_t);
	case IOM_T2_ZUSMEM_WRITE:
	case IOM_T2_ZUSMEM_READ:
		return sizeof(zufs_iom_t2_zusmem_io) / sizeof(uint64_t);
	case IOM_UNMAP:
		return sizeof(zufs_iom_unmap) / sizeof(uint64_t);
	default:
		return 0;
	}
}

static bool fits_first_val(uint64_t v)
{
	return (v & ~ZUFS_IOM_FIRST_VAL_MASK) == 0;
}

__u64 *Builder::reserve(uint32_t n)
{
	if (room() < n)
		return nullptr;
	// iom_e is the ABI's flexible array: the caller sized the buffer.
	__u64 *base = ziom_.iom_e;
	return base + ziom_.iom_n;
}

int Builder::t1_op(ZUFS_IOM_TYPE type, zu_dpp_t t1)
{
	if (!fits_first_val(t1))
		return -EINVAL;
	__u64 *e = reserve(1);
	if (!e)
		return -ENOSPC;
	_zufs_iom_enc_type_val(&e[0], type, t1);
	ziom_.iom_n += 1;
	return 0;
}

int Builder::t2_op(ZUFS_IOM_TYPE type, uint64_t t2_bn, zu_dpp_t t1)
{
	if (!fits_first_val(t2_bn))
		return -EINVAL;
	__u64 *e = reserve(2);
	if (!e)
		return -ENOSPC;
	_zufs_iom_enc_type_val(&e[0], type, t2_bn);
	e[1] = t1;
	ziom_.iom_n += 2;
	return 0;
}

int Builder::t2_len_op(ZUFS_IOM_TYPE type, uint64_t t2_bn, zu_dpp_t t1,
		       uint64_t n_pages)
{
	if (!fits_first_val(t2_bn))
		return -EINVAL;
	__u64 *e = reserve(3);
	if (!e)
		return -ENOSPC;
	_zufs_iom_enc_type_val(&e[0], type, t2_bn);
	e[1] = t1;
	e[2] = n_pages;
	ziom_.iom_n += 3;
	return 0;
}

int Builder::zusmem_op(ZUFS_IOM_TYPE type, uint64_t t2_bn, const void *mem,
		       uint64_t len)
{
	if (!fits_first_val(t2_bn))
		return -EINVAL;
	__u64 *e = reserve(3);
	if (!e)
		return -ENOSPC;
	_zufs_iom_enc_type_val(&e[0], type, t2_bn);
	e[1] = reinterpret_cast<uintptr_t>(mem);
	e[2] = len;
	ziom_.iom_n += 3;
	return 0;
}

int Builder::unmap(uint64_t page_index, uint64_t n_pages, uint64_t ino)
{
	if (!fits_first_val(page_index))
		return -EINVAL;
	__u64 *e = reserve(3);
	if (!e)
		return -ENOSPC;
	_zufs_iom_enc_type_val(&e[0], IOM_UNMAP, page_index);
	e[1] = n_pages;
	e[2] = ino;
	ziom_.iom_n += 3;
	return 0;
}

int Builder::terminate()
{
	__u64 *e = reserve(1);
	if (!e)
		return -ENOSPC;
	e[0] = 0;
	ziom_.iom_n += 1;
	return 0;
}

} // namespace iomap
