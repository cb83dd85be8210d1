// SPDX-License-Identifier: BSD-3-Clause
#include "server/crc32c.h"

#include <array>

namespace zus {

namespace {

constexpr std::array<uint32_t, 256> make_table()
{
	std::array<uint32_t, 256> t{};
	for (uint32_t i = 0; i < 256; ++i) {
		uint32_t c = i;
		for (int k = 0; k < 8; ++k)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		t[i] = c;
	}
	return t;
}

constexpr auto kTable = make_table();

} // namespace

uint32_t crc32c(uint32_t crc, const void *data, size_t len)
{
	const auto *p = static_cast<const uint8_t *>(data);
	crc = ~crc;
	while (len--)
		crc = kTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

} // namespace zus
