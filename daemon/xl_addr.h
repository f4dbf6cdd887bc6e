/* SPDX-License-Identifier: MIT */
/*
 * Endpoint addresses as the control protocol carries them (struct
 * xl_ctl_addr), made comparable: an IPv4 connection seen through a
 * dual-stack IPv6 socket arrives as ::ffff:a.b.c.d on one side and a.b.c.d
 * on the other, and the scope of a link-local address is an interface
 * index that means nothing in another namespace. Normalising first lets
 * plain byte comparison decide whether two ends are the same.
 *
 * Pure functions; they return 0 or -errno and never write errno.
 */
#ifndef XL_ADDR_H
#define XL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "xenloop/ctl.h"

/* "[ffff:...:ffff]:65535" and a NUL */
#define XL_ADDR_STRLEN	56

/*
 * Rewrite a into its canonical form: v4-mapped IPv6 becomes IPv4, the
 * scope and every byte the family does not use become 0. -EINVAL for a
 * family other than AF_INET/AF_INET6.
 */
int xl_addr_normalize(struct xl_ctl_addr *a);

/* Same family and IP (ports ignored); both normalised. */
bool xl_addr_same_ip(const struct xl_ctl_addr *a, const struct xl_ctl_addr *b);

/* Same family, IP and port; both normalised. */
bool xl_addr_equal(const struct xl_ctl_addr *a, const struct xl_ctl_addr *b);

/* 127.0.0.0/8 or ::1 (normalised). */
bool xl_addr_is_loopback(const struct xl_ctl_addr *a);

/* 0.0.0.0, :: or a multicast address: never the end of a TCP connection. */
bool xl_addr_is_bogus(const struct xl_ctl_addr *a);

/* Hash of the IP and port, for the matching table. */
uint32_t xl_addr_hash(const struct xl_ctl_addr *a, uint32_t seed);

/* Text form: "198.18.0.1", "2001:2::1", or with with_port
 * "198.18.0.1:80", "[2001:2::1]:80". Returns 0 or -ENOSPC. */
int xl_addr_format(const struct xl_ctl_addr *a, bool with_port, char *buf,
		   size_t len);

/* Parse an IP (no port) in text form, normalised. -EINVAL if it is not. */
int xl_addr_parse(const char *s, struct xl_ctl_addr *a);

/* From a struct sockaddr_in/_in6, normalised. -EAFNOSUPPORT otherwise. */
int xl_addr_from_sockaddr(struct xl_ctl_addr *a, const struct sockaddr *sa);

#endif /* XL_ADDR_H */
