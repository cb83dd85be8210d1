// SPDX-License-Identifier: BSD-3-Clause
//
// Every SDK header (include/zus) in a C++ translation unit, as zufuse's
// plugin host includes them (with and without ZUS_SEED_TAG), -Werror.
#include "zus.h"
#include "iom_enc.h"
#include "b-minmax.h"

int main()
{
	zufs_ioc_IO io = {};
	zus_iomap_build iomb = {};
	_zus_iom_init_4_ioc_io(&iomb, nullptr, &io, sizeof(io));
	_zus_iom_start(&iomb, nullptr, nullptr);
	if (_zus_iom_enc_unmap(&iomb, 1, 2, 3))
		return 1;
	_zus_iom_end(&iomb);
	return io.ziom.iom_n == 3 && _zufs_iom_opt_type(io.iom_e) == IOM_UNMAP ?
		       0 :
		       2;
}
