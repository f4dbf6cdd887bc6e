/* SPDX-License-Identifier: MIT */
/*
 * Neighbour table lookup over rtnetlink: one RTM_GETNEIGH dump of the
 * address family, scanned for the destination. A dump rather than a
 * targeted get because RTM_GETNEIGH with NDA_DST needs the interface
 * index, which the caller does not know (and a guest may have several
 * vifs).
 */
#include "config.h"

#include <errno.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "xl_neigh.h"

#define XL_NEIGH_BUF	16384

/* States in which the MAC is the one the last packets went to. */
#define XL_NUD_USABLE	(NUD_REACHABLE | NUD_STALE | NUD_DELAY | \
			 NUD_PROBE | NUD_PERMANENT | NUD_NOARP)

static int xl_neigh_request(int sk, uint8_t family, uint32_t seq)
{
	struct {
		struct nlmsghdr nh;
		struct ndmsg nd;
	} req;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };

	memset(&req, 0, sizeof(req));
	req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(req.nd));
	req.nh.nlmsg_type = RTM_GETNEIGH;
	req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req.nh.nlmsg_seq = seq;
	req.nd.ndm_family = family;
	if (sendto(sk, &req, req.nh.nlmsg_len, 0,
		   (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	return 0;
}

/* Does this neighbour message name ip with a usable 6-byte address? */
static bool xl_neigh_match(const struct nlmsghdr *nh,
			   const struct xl_ctl_addr *ip, size_t iplen,
			   uint8_t mac[6])
{
	const struct ndmsg *nd = NLMSG_DATA(nh);
	const struct rtattr *rta;
	const uint8_t *dst = NULL, *lladdr = NULL;
	int len;

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*nd)) ||
	    nd->ndm_family != ip->family || !(nd->ndm_state & XL_NUD_USABLE))
		return false;
	len = (int)(nh->nlmsg_len - NLMSG_LENGTH(sizeof(*nd)));
	for (rta = (const struct rtattr *)((const char *)nd +
					   NLMSG_ALIGN(sizeof(*nd)));
	     RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
		if (rta->rta_type == NDA_DST && RTA_PAYLOAD(rta) == iplen)
			dst = RTA_DATA(rta);
		else if (rta->rta_type == NDA_LLADDR && RTA_PAYLOAD(rta) == 6)
			lladdr = RTA_DATA(rta);
	}
	if (!dst || !lladdr || memcmp(dst, ip->addr, iplen))
		return false;
	memcpy(mac, lladdr, 6);
	return true;
}

/* Read the dump to its end; 0 if ip was found, -ENOENT if not. */
static int xl_neigh_scan(int sk, uint32_t seq, const struct xl_ctl_addr *ip,
			 size_t iplen, uint8_t mac[6])
{
	static __thread uint8_t buf[XL_NEIGH_BUF]
		__attribute__((aligned(NLMSG_ALIGNTO)));
	const struct nlmsghdr *nh;
	bool found = false;
	ssize_t n;
	int len;

	for (;;) {
		n = recv(sk, buf, sizeof(buf), 0);
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		len = (int)n;
		for (nh = (const struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		     nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_seq != seq)
				continue;	/* not our conversation */
			if (nh->nlmsg_type == NLMSG_DONE)
				return found ? 0 : -ENOENT;
			if (nh->nlmsg_type == NLMSG_ERROR)
				return -EIO;
			if (!found && nh->nlmsg_type == RTM_NEWNEIGH)
				found = xl_neigh_match(nh, ip, iplen, mac);
		}
	}
}

int xl_neigh_lookup(const struct xl_ctl_addr *ip, uint8_t mac[6])
{
	/* a dump that stalls must not stall the daemon's loop */
	struct timeval tmo = { .tv_sec = 1 };
	static uint32_t seq;
	size_t iplen;
	int sk, ret;

	if (ip->family == AF_INET)
		iplen = 4;
	else if (ip->family == AF_INET6)
		iplen = 16;
	else
		return -EAFNOSUPPORT;
	sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (sk < 0)
		return -errno;
	if (setsockopt(sk, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)) < 0) {
		ret = -errno;
		goto out_close;
	}
	seq++;
	ret = xl_neigh_request(sk, (uint8_t)ip->family, seq);
	if (ret == 0)
		ret = xl_neigh_scan(sk, seq, ip, iplen, mac);
out_close:
	close(sk);
	return ret;
}
