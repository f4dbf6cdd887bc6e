/* SPDX-License-Identifier: MIT */
/*
 * getsockopt() and setsockopt(): the kernel's answers, plus what the
 * library must know. SO_ERROR completes a nonblocking connect (the socket
 * is registered then), SO_RCVTIMEO and SO_SNDTIMEO bound the ring's
 * waits, SO_RCVLOWAT says how many ring bytes make a socket readable,
 * and one private option (xl_query.h) lets a test ask what became
 * of a socket.
 */
#include "config.h"

#include <string.h>

#include "xl_fdtable.h"
#include "xl_preload.h"
#include "xl_query.h"
#include "xl_sock.h"

static int xl_sockopt_info(int fd, void *val, socklen_t *len)
{
	struct xl_sock *s = xl_fd_peek(fd);
	struct xl_sock_info info = { .state = 0 };
	struct xl_ctl_counts counts;

	if (!len || *len < sizeof(info))
		return -EINVAL;
	if (s && xl_sock_tryget(s)) {
		/* asking about the ring: it should have one */
		if (atomic_load(&s->state) == XL_SOCK_PENDING)
			xl_sock_register_due(s, fd, true);
		info.state = (uint32_t)atomic_load(&s->state);
		info.flags = (atomic_load(&s->conn->tx_ring) ? XL_INFO_TX_RING : 0) |
			     (atomic_load(&s->conn->rx_ring) ? XL_INFO_RX_RING : 0);
		xl_sock_counts(s, &counts);
		info.ring_tx = counts.ring_tx;
		info.ring_rx = counts.ring_rx;
		info.tcp_tx = counts.tcp_tx;
		info.tcp_rx = counts.tcp_rx;
		xl_sock_put(s);
	}
	memcpy(val, &info, sizeof(info));
	*len = sizeof(info);
	return 0;
}

static int xl_timeo_ms(const void *val, socklen_t len)
{
	const struct timeval *tv = val;
	uint64_t ms;

	if (len < sizeof(*tv) || tv->tv_sec < 0)
		return 0;
	ms = (uint64_t)tv->tv_sec * 1000 + ((uint64_t)tv->tv_usec + 999) / 1000;
	return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

XL_EXPORT int getsockopt(int fd, int level, int opt, void *val,
			 socklen_t *len)
{
	struct xl_sock *s;
	int ret, saved = errno;

	xl_init();
	if (!xl_bypass() && level == XL_SOL_XENLOOP && opt == XL_SO_INFO)
		return (int)xl_ret(xl_sockopt_info(fd, val, len), saved);
	ret = real.getsockopt(fd, level, opt, val, len);
	if (ret < 0 || xl_bypass() || level != SOL_SOCKET || opt != SO_ERROR)
		return ret;
	s = xl_sock_get(fd);
	if (s) {
		if (*(int *)val == 0)
			xl_sock_settle(s, fd);
		xl_sock_put(s);
		errno = saved;
	}
	return ret;
}

XL_EXPORT int setsockopt(int fd, int level, int opt, const void *val,
			 socklen_t len)
{
	struct xl_sock *s;
	int ret, saved = errno;

	xl_init();
	ret = real.setsockopt(fd, level, opt, val, len);
	if (ret < 0 || xl_bypass() || level != SOL_SOCKET ||
	    (opt != SO_RCVTIMEO && opt != SO_SNDTIMEO && opt != SO_RCVLOWAT))
		return ret;
	s = xl_sock_get(fd);
	if (s) {
		if (opt == SO_RCVLOWAT)
			/* what the kernel made of it (clamped, 0 -> 1) */
			atomic_store(&s->rcvlowat, xl_sock_rcvlowat(fd));
		else
			atomic_store(opt == SO_RCVTIMEO ? &s->rcvtimeo_ms :
				     &s->sndtimeo_ms, xl_timeo_ms(val, len));
		xl_sock_put(s);
		errno = saved;
	}
	return ret;
}
