/* SPDX-License-Identifier: MIT */
/*
 * The layout of a xenloop channel in shared memory (version 1).
 *
 * This header is the whole contract between the two ends of a channel. It is
 * self-contained, uses fixed-width types only and may be copied into another
 * implementation; docs/ring.md explains the protocol around it.
 *
 * A channel is one control page followed by two data areas:
 *
 *   offset 0                      struct xl_wire_ctrl (one 4 KiB page)
 *   offset XL_WIRE_CTRL_SIZE      data of direction 0 (side A -> side B)
 *   offset ... + size0            data of direction 1 (side B -> side A)
 *
 * Side A creates the channel (allocates and, on Xen, grants the pages) and
 * side B attaches to it. Each direction is a single-producer/single-consumer
 * byte stream. The sizes of both data areas are powers of two, at least one
 * page, and agreed out of band; the copies in the control page are only
 * cross-checked.
 *
 * Every field is written by exactly one side, except the two "want" flags
 * (set by the side that is about to sleep, cleared by the side that wakes
 * it). The side that is not the writer must treat every value as hostile.
 * All multi-byte fields are little-endian (both ends run on one host).
 */
#ifndef XENLOOP_WIRE_H
#define XENLOOP_WIRE_H

#include <stdint.h>

#define XL_WIRE_MAGIC		0x474e524cu	/* "LRNG" in memory order */
#define XL_WIRE_VERSION		1u
#define XL_WIRE_CACHELINE	64u
#define XL_WIRE_PAGE_SIZE	4096u
#define XL_WIRE_CTRL_SIZE	XL_WIRE_PAGE_SIZE

/* log2 bounds of one direction's data area: 4 KiB .. 64 MiB. */
#define XL_WIRE_MIN_ORDER	12u
#define XL_WIRE_MAX_ORDER	26u

/* Values of xl_wire_prod.state. */
#define XL_WIRE_PROD_IDLE	0u	/* producer has not attached yet */
#define XL_WIRE_PROD_OPEN	1u	/* start_off is valid; bytes flow */
#define XL_WIRE_PROD_CLOSED	2u	/* end_off is valid; no more bytes */
#define XL_WIRE_PROD_LEFT	3u	/* end_off is valid; the stream goes
					 * on by the other path (TCP) */

/* Values of xl_wire_cons.state. */
#define XL_WIRE_CONS_OPEN	0u	/* the consumer reads */
#define XL_WIRE_CONS_CLOSED	1u	/* the consumer will read no more */
#define XL_WIRE_CONS_BACK	2u	/* it read exactly cons bytes and
					 * reads no more here: the producer
					 * sends the rest by TCP, and LEFT
					 * with end_off at cons says so */

/* Values of the live bytes. Xen's unmap-notify clears a live byte to 0. */
#define XL_WIRE_DEAD		0u
#define XL_WIRE_LIVE		1u

/*
 * Producer's cache line of one direction. Written by the producer only,
 * except want_space, which the consumer clears when it wakes the producer.
 */
struct xl_wire_prod {
	/* Free-running count of bytes published, modulo 2^32. Slot of byte
	 * index i is i & (size - 1). Published with release ordering after
	 * the payload. */
	uint32_t prod;
	/* XL_WIRE_PROD_*. Moves IDLE -> OPEN -> CLOSED only. */
	uint32_t state;
	/* Stream offset of the byte at index 0 of this ring: where this
	 * direction's stream moved from TCP onto the ring. Written before
	 * state becomes OPEN, never changed afterwards. */
	uint64_t start_off;
	/* Stream offset just past the last byte the producer will publish.
	 * Written before state becomes CLOSED; must equal start_off + the
	 * total count published. */
	uint64_t end_off;
	/* Non-zero: the producer found the ring full and is about to sleep;
	 * the consumer must notify after it frees space. */
	uint32_t want_space;
	/* Liveness of the producer's side of the channel (XL_WIRE_LIVE or
	 * XL_WIRE_DEAD). A byte so that Xen's unmap-notify can clear it. */
	uint8_t live;
	uint8_t pad0[3];
	uint8_t pad[XL_WIRE_CACHELINE - 32];
};

/*
 * Consumer's cache line of one direction. Written by the consumer only,
 * except want_data, which the producer clears when it wakes the consumer.
 */
struct xl_wire_cons {
	/* Free-running count of bytes consumed, modulo 2^32. Space is
	 * released with release ordering after the payload was copied out. */
	uint32_t cons;
	/* XL_WIRE_CONS_*. Moves OPEN -> CLOSED, OPEN -> BACK -> CLOSED.
	 * cons is final before state becomes BACK (release). */
	uint32_t state;
	/* Non-zero: the consumer found the ring empty and is about to sleep;
	 * the producer must notify after it publishes. */
	uint32_t want_data;
	/* Non-zero once the consumer has attached. A producer that carries
	 * a stream which started on TCP moves onto the ring only after this:
	 * a consumer that has not attached yet could not be woken by it. */
	uint32_t attached;
	uint8_t pad[XL_WIRE_CACHELINE - 16];
};

/* One direction's control: producer and consumer lines kept apart so the
 * two sides never write the same cache line in the common case. */
struct xl_wire_dir {
	struct xl_wire_prod p;
	struct xl_wire_cons c;
};

/*
 * The control page. The first cache line is written once by side A before
 * side B attaches, and never again.
 */
struct xl_wire_ctrl {
	uint32_t magic;			/* XL_WIRE_MAGIC */
	uint16_t version;		/* XL_WIRE_VERSION */
	uint16_t ctrl_size;		/* XL_WIRE_CTRL_SIZE >> 6 (in cache lines) */
	uint32_t order[2];		/* log2 size of direction 0 and 1 data */
	uint32_t reserved[12];
	struct xl_wire_dir dir[2];	/* dir[0]: A -> B, dir[1]: B -> A */
	uint8_t tail[XL_WIRE_CTRL_SIZE - XL_WIRE_CACHELINE
		     - 2 * sizeof(struct xl_wire_dir)];
};

/* Byte offset of direction d's data from the start of the channel. */
static inline uint64_t xl_wire_data_off(uint32_t order0, unsigned int d)
{
	return XL_WIRE_CTRL_SIZE + (d ? (1ull << order0) : 0);
}

/* Total bytes of a channel whose directions have these orders. */
static inline uint64_t xl_wire_chan_size(uint32_t order0, uint32_t order1)
{
	return XL_WIRE_CTRL_SIZE + (1ull << order0) + (1ull << order1);
}

/*
 * A channel of the kernel module, /dev/xenloop (docs/xen.md §5.4): each
 * side produces into pages of its own, which the peer maps read-only.
 * A side's own pages are its control page, then the data of the
 * direction it sends (side 0 sends direction 0). The control page holds,
 * first, the consumer line of the direction this side receives and,
 * last, the producer line of the one it sends: mapped back to back,
 * [producer's page][consumer's page], the last line of the first and the
 * first line of the second are one struct xl_wire_dir across the
 * boundary, so that ring code reads and writes a direction as it does in
 * one shared control page, and each side writes only its own page.
 */
#define XL_WIRE_KMAGIC		0x4b4e524cu	/* "LRNK" in memory order */

struct xl_wire_kpage {
	struct xl_wire_cons c;		/* of the direction we receive */
	uint32_t magic;			/* XL_WIRE_KMAGIC */
	uint16_t version;		/* XL_WIRE_VERSION */
	uint16_t side;			/* 0 or 1: we send direction side */
	uint32_t order;			/* log2 size of the data we send */
	uint32_t reserved[13];
	uint8_t tail[XL_WIRE_PAGE_SIZE - 3 * XL_WIRE_CACHELINE];
	struct xl_wire_prod p;		/* of the direction we send */
};

/* The producer line's live byte in the page (XLDEV_DEAD_OFFSET). */
#define XL_WIRE_KPAGE_LIVE_OFF	(XL_WIRE_PAGE_SIZE - XL_WIRE_CACHELINE + 28u)

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct xl_wire_kpage) == XL_WIRE_PAGE_SIZE,
	       "a side's control page is one page");
_Static_assert(XL_WIRE_KPAGE_LIVE_OFF == 4060, "xenloop_dev.h's offset");
_Static_assert(sizeof(struct xl_wire_prod) == XL_WIRE_CACHELINE,
	       "producer line is one cache line");
_Static_assert(sizeof(struct xl_wire_cons) == XL_WIRE_CACHELINE,
	       "consumer line is one cache line");
_Static_assert(sizeof(struct xl_wire_ctrl) == XL_WIRE_CTRL_SIZE,
	       "control block is one page");
#endif

#endif /* XENLOOP_WIRE_H */
