/* SPDX-License-Identifier: MIT */
/*
 * A deterministic byte stream for the data tests (xl_bulk.c, xl_many.c):
 * the byte at offset o of the stream with seed s depends only on s and o,
 * so a receiver can check every byte where it lands, whatever sizes the
 * sender wrote it in, and name the first offset that is wrong: a lost,
 * duplicated or reordered byte shows up where it happened, not as a bad
 * checksum at the end.
 */
#ifndef XL_PATTERN_H
#define XL_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* splitmix64's finaliser: every word of the stream looks random, so no
 * shifted copy of the stream matches itself by accident. */
static inline uint64_t xl_pat_word(uint64_t seed, uint64_t k)
{
	uint64_t z = seed * 0x9e3779b97f4a7c15ull + k + 1;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint8_t xl_pat_byte(uint64_t seed, uint64_t off)
{
	return (uint8_t)(xl_pat_word(seed, off >> 3) >> (8 * (off & 7)));
}

/* Fill buf with the len bytes of the stream that start at offset off. */
static inline void xl_pat_fill(uint64_t seed, uint64_t off, uint8_t *buf,
			       size_t len)
{
	size_t i = 0, j;
	uint64_t w;

	while (i < len && ((off + i) & 7))
		buf[i] = xl_pat_byte(seed, off + i), i++;
	for (; i + 8 <= len; i += 8) {
		w = xl_pat_word(seed, (off + i) >> 3);
		/* byte order fixed by shifts, not by the host */
		for (j = 0; j < 8; j++)
			buf[i + j] = (uint8_t)(w >> (8 * j));
	}
	for (; i < len; i++)
		buf[i] = xl_pat_byte(seed, off + i);
}

/*
 * Compare buf with the stream at offset off. Returns len if every byte
 * is right, else the index of the first wrong one.
 */
static inline size_t xl_pat_check(uint64_t seed, uint64_t off,
				  const uint8_t *buf, size_t len)
{
	uint8_t want[4096];
	size_t i = 0, n, k;

	while (i < len) {
		n = len - i < sizeof(want) ? len - i : sizeof(want);
		xl_pat_fill(seed, off + i, want, n);
		if (memcmp(want, buf + i, n)) {
			for (k = 0; want[k] == buf[i + k]; k++)
				;
			return i + k;
		}
		i += n;
	}
	return len;
}

#endif /* XL_PATTERN_H */
