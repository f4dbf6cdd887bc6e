/* SPDX-License-Identifier: MIT */
/*
 * The library's private socket option: what became of a socket, for tests
 * (tests/e2e/semantics.c) and debugging. A level the kernel does not know,
 * so that no program could have meant anything else by it:
 *
 *	struct xl_sock_info info;
 *	socklen_t len = sizeof(info);
 *	getsockopt(fd, XL_SOL_XENLOOP, XL_SO_INFO, &info, &len);
 *
 * Without the library the kernel answers ENOPROTOOPT.
 */
#ifndef XL_QUERY_H
#define XL_QUERY_H

#include <stdint.h>

#define XL_SOL_XENLOOP	0x584c
#define XL_SO_INFO	1

/* info.state: 0 when the library does not track the socket, else: */
#define XL_INFO_CONNECTING	1
#define XL_INFO_PENDING		2	/* waiting for the daemon */
#define XL_INFO_CHAN		3	/* a channel is attached */
#define XL_INFO_PLAIN		4	/* stays on kernel TCP */

/* info.flags */
#define XL_INFO_TX_RING		0x1u	/* our direction moved onto the ring */
#define XL_INFO_RX_RING		0x2u	/* the peer's direction did */

struct xl_sock_info {
	uint32_t state;
	uint32_t flags;
	uint64_t ring_tx, ring_rx;	/* payload bytes through the ring */
	uint64_t tcp_tx, tcp_rx;	/* ... through the kernel socket */
};

#endif /* XL_QUERY_H */
