/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * b-minmax.h - type-checked min()/max() (each argument evaluated once),
 * as the kernel's minmax.h; min_t/max_t convert both to a type first.
 */
#ifndef ZUS_B_MINMAX_H
#define ZUS_B_MINMAX_H

#define __zus_cmp_once(op, ta, tb, x, y)                                       \
	__extension__({                                                        \
		ta __a = (x);                                                  \
		tb __b = (y);                                                  \
		(void)(&__a == &__b); /* warns on mixed types */              \
		__a op __b ? __a : __b;                                        \
	})

#ifndef min
#define min(x, y) __zus_cmp_once(<, __typeof__(x), __typeof__(y), x, y)
#endif
#ifndef max
#define max(x, y) __zus_cmp_once(>, __typeof__(x), __typeof__(y), x, y)
#endif
#ifndef min_t
#define min_t(type, x, y) __zus_cmp_once(<, type, type, x, y)
#endif
#ifndef max_t
#define max_t(type, x, y) __zus_cmp_once(>, type, type, x, y)
#endif

#endif /* ZUS_B_MINMAX_H */
