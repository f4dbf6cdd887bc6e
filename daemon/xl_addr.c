/* SPDX-License-Identifier: MIT */
/*
 * Canonical forms, comparison, hashing and text of control-protocol
 * addresses (see xl_addr.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "xl_addr.h"

static const uint8_t xl_v4mapped[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static size_t xl_addr_len(const struct xl_ctl_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

int xl_addr_normalize(struct xl_ctl_addr *a)
{
	if (a->family == AF_INET6 &&
	    !memcmp(a->addr, xl_v4mapped, sizeof(xl_v4mapped))) {
		memmove(a->addr, a->addr + 12, 4);
		a->family = AF_INET;
	}
	if (a->family != AF_INET && a->family != AF_INET6)
		return -EINVAL;
	if (a->family == AF_INET)
		memset(a->addr + 4, 0, sizeof(a->addr) - 4);
	a->scope_id = 0;
	return 0;
}

bool xl_addr_same_ip(const struct xl_ctl_addr *a, const struct xl_ctl_addr *b)
{
	return a->family == b->family &&
	       !memcmp(a->addr, b->addr, xl_addr_len(a));
}

bool xl_addr_equal(const struct xl_ctl_addr *a, const struct xl_ctl_addr *b)
{
	return a->port == b->port && xl_addr_same_ip(a, b);
}

bool xl_addr_is_loopback(const struct xl_ctl_addr *a)
{
	static const uint8_t v6lo[16] = { [15] = 1 };

	if (a->family == AF_INET)
		return a->addr[0] == 127;
	return !memcmp(a->addr, v6lo, sizeof(v6lo));
}

bool xl_addr_is_bogus(const struct xl_ctl_addr *a)
{
	static const uint8_t zero[16];

	if (!memcmp(a->addr, zero, xl_addr_len(a)))
		return true;
	if (a->family == AF_INET)
		return a->addr[0] >= 224;	/* multicast, class E */
	return a->addr[0] == 0xff;
}

/* FNV-1a: the table is small and the input not chosen by a remote host
 * alone (it must also get a registration in), so this is enough. */
uint32_t xl_addr_hash(const struct xl_ctl_addr *a, uint32_t seed)
{
	uint32_t h = 2166136261u ^ seed;
	size_t i;

	for (i = 0; i < xl_addr_len(a); i++)
		h = (h ^ a->addr[i]) * 16777619u;
	h = (h ^ (a->port & 0xff)) * 16777619u;
	h = (h ^ (a->port >> 8)) * 16777619u;
	return (h ^ a->family) * 16777619u;
}

int xl_addr_format(const struct xl_ctl_addr *a, bool with_port, char *buf,
		   size_t len)
{
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (!inet_ntop(a->family == AF_INET ? AF_INET : AF_INET6, a->addr, ip,
		       sizeof(ip)))
		return -EINVAL;
	if (!with_port)
		n = snprintf(buf, len, "%s", ip);
	else if (a->family == AF_INET)
		n = snprintf(buf, len, "%s:%u", ip, a->port);
	else
		n = snprintf(buf, len, "[%s]:%u", ip, a->port);
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int xl_addr_parse(const char *s, struct xl_ctl_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, a->addr) == 1)
		a->family = AF_INET;
	else if (inet_pton(AF_INET6, s, a->addr) == 1)
		a->family = AF_INET6;
	else
		return -EINVAL;
	return xl_addr_normalize(a);
}

int xl_addr_from_sockaddr(struct xl_ctl_addr *a, const struct sockaddr *sa)
{
	const struct sockaddr_in *in4 = (const void *)sa;
	const struct sockaddr_in6 *in6 = (const void *)sa;

	memset(a, 0, sizeof(*a));
	a->family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		a->port = ntohs(in4->sin_port);
		memcpy(a->addr, &in4->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		a->port = ntohs(in6->sin6_port);
		memcpy(a->addr, &in6->sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	return xl_addr_normalize(a);
}
