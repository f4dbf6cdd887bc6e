/* SPDX-License-Identifier: MIT */
/*
 * The local transport: a channel between two processes of one Linux host
 * (two containers, two network namespaces).
 *
 * Memory is a memfd, sealed so that neither side can shrink or grow it: a
 * peer that truncated the file under our mapping would turn our next access
 * into SIGBUS, so an unsealed memfd is refused on attach. Each side has two
 * eventfds, one it sleeps on for data and one for space, and kicks the
 * peer's. A connected socketpair, one end
 * per side, carries no data: its only job is to hang up when every copy of
 * one end is closed, which is how a side learns that the other process is
 * gone even if it died without a word (the live bytes cover clean exits).
 * Everything side B needs is a file descriptor, so the descriptor travels
 * over a Unix socket with SCM_RIGHTS.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "xl_barrier.h"
#include "xl_chan.h"

#define XL_LOCAL_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

struct xl_local {
	void *mem;
	size_t len;
	int wait_efd[2];	/* the peer kicks these to wake us, by wait */
	int kick_efd[2];	/* we kick these to wake the peer, by wait */
	int hup;		/* our end of the liveness pair */
};

static int xl_local_new(struct xl_chan *ch, size_t len)
{
	struct xl_local *lo = calloc(1, sizeof(*lo));

	if (!lo)
		return -ENOMEM;
	lo->len = len;
	lo->mem = MAP_FAILED;
	lo->wait_efd[0] = lo->wait_efd[1] = -1;
	lo->kick_efd[0] = lo->kick_efd[1] = -1;
	lo->hup = -1;
	ch->be = lo;
	return 0;
}

/* Close n consecutive fd fields from fds on, leaving -1. */
static void xl_local_close_fds(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		xl_keeper_close(&fds[i]);
}

/* This process's mapping and fds. */
static void xl_local_release(struct xl_local *lo)
{
	if (!lo)
		return;
	if (lo->mem != MAP_FAILED)
		munmap(lo->mem, lo->len);
	xl_local_close_fds(lo->wait_efd, 2);
	xl_local_close_fds(lo->kick_efd, 2);
	xl_local_close_fds(&lo->hup, 1);
	free(lo);
}

static void xl_local_free(struct xl_chan *ch)
{
	xl_local_release(ch->be);
	ch->be = NULL;
}

static int xl_local_map(struct xl_chan *ch, int memfd)
{
	struct xl_local *lo = ch->be;

	lo->mem = mmap(NULL, lo->len, PROT_READ | PROT_WRITE, MAP_SHARED,
		       memfd, 0);
	if (lo->mem == MAP_FAILED)
		return -errno;
	ch->ctrl = lo->mem;
	ch->data = (uint8_t *)lo->mem + XL_WIRE_CTRL_SIZE;
	return 0;
}

static int xl_local_memfd(size_t len)
{
	int fd = memfd_create("xenloop-chan", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int ret;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)len) < 0 ||
	    fcntl(fd, F_ADD_SEALS, XL_LOCAL_SEALS) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Write the control page through a temporary mapping. */
static int xl_local_init_ctrl(int memfd, const struct xl_chan_params *p)
{
	void *mem = mmap(NULL, XL_WIRE_CTRL_SIZE, PROT_READ | PROT_WRITE,
			 MAP_SHARED, memfd, 0);
	int ret;

	if (mem == MAP_FAILED)
		return -errno;
	ret = xl_ring_ctrl_init(mem, p->order[0], p->order[1]);
	munmap(mem, XL_WIRE_CTRL_SIZE);
	return ret;
}

static void xl_local_desc_init(struct xl_chan_desc *desc, unsigned int side,
			       const struct xl_chan_params *p)
{
	desc->kind = XL_BACKEND_LOCAL;
	desc->side = side;
	desc->order[0] = p->order[0];
	desc->order[1] = p->order[1];
	desc->u.local.memfd = -1;
	memset(desc->u.local.efd, 0xff, sizeof(desc->u.local.efd));
	desc->u.local.hup = -1;
}

static void xl_local_desc_release(struct xl_chan_desc *desc);

/* Side 1 gets the originals, side 0 duplicates of the shared ones. */
static int xl_local_fill_pair(struct xl_chan_desc desc[2], int memfd,
			      int efd[2][2], const int pair[2])
{
	struct xl_chan_desc *a = &desc[0], *b = &desc[1];
	int s, w;

	b->u.local.memfd = memfd;
	memcpy(b->u.local.efd, efd, sizeof(b->u.local.efd));
	b->u.local.hup = pair[1];
	a->u.local.hup = pair[0];
	a->u.local.memfd = xl_keeper_dup(memfd);
	if (a->u.local.memfd < 0)
		return a->u.local.memfd;
	for (s = 0; s < 2; s++) {
		for (w = 0; w < 2; w++) {
			a->u.local.efd[s][w] = xl_keeper_dup(efd[s][w]);
			if (a->u.local.efd[s][w] < 0)
				return a->u.local.efd[s][w];
		}
	}
	return 0;
}

/* Four nonblocking eventfds, all or none. */
static int xl_local_eventfds(int efd[2][2])
{
	int *all = &efd[0][0], i, ret;

	for (i = 0; i < 4; i++)
		all[i] = -1;
	for (i = 0; i < 4; i++) {
		all[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (all[i] < 0) {
			ret = -errno;
			xl_local_close_fds(all, 4);
			return ret;
		}
	}
	return 0;
}

static int xl_local_create_pair(const struct xl_chan_params *p,
				struct xl_chan_desc desc[2])
{
	uint64_t len = xl_wire_chan_size(p->order[0], p->order[1]);
	int efd[2][2], pair[2], memfd, ret;

	xl_local_desc_init(&desc[0], 0, p);
	xl_local_desc_init(&desc[1], 1, p);
	if (p->order[0] < XL_WIRE_MIN_ORDER || p->order[0] > XL_WIRE_MAX_ORDER ||
	    p->order[1] < XL_WIRE_MIN_ORDER || p->order[1] > XL_WIRE_MAX_ORDER)
		return -EINVAL;
	memfd = xl_local_memfd(len);
	if (memfd < 0)
		return memfd;
	ret = xl_local_init_ctrl(memfd, p);
	if (ret < 0)
		goto out_close_memfd;
	ret = xl_local_eventfds(efd);
	if (ret < 0)
		goto out_close_memfd;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, pair) < 0) {
		ret = -errno;
		goto out_close_efds;
	}
	/* from here on the descriptors own every fd */
	ret = xl_local_fill_pair(desc, memfd, efd, pair);
	if (ret < 0) {
		xl_local_desc_release(&desc[0]);
		xl_local_desc_release(&desc[1]);
	}
	return ret;

out_close_efds:
	xl_local_close_fds(&efd[0][0], 4);
out_close_memfd:
	close(memfd);
	return ret;
}

static int xl_local_attach(struct xl_chan *ch, const struct xl_chan_desc *desc);

/* Side A in this process: make a pair, attach to side 0, give away 1. */
static int xl_local_create(struct xl_chan *ch, const struct xl_chan_params *p,
			   struct xl_chan_desc *desc)
{
	struct xl_chan_desc pair[2];
	int ret;

	ret = xl_local_create_pair(p, pair);
	if (ret < 0)
		return ret;
	ret = xl_local_attach(ch, &pair[0]);
	xl_local_desc_release(&pair[0]);
	if (ret < 0) {
		xl_local_desc_release(&pair[1]);
		return ret;
	}
	*desc = pair[1];
	return 0;
}

/* The peer made the memfd: insist on the size and seals we rely on. */
static int xl_local_check_memfd(int memfd, size_t len)
{
	struct stat st;
	int seals;

	if (fstat(memfd, &st) < 0)
		return -errno;
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals < 0)
		return -errno;
	if ((seals & (F_SEAL_SHRINK | F_SEAL_GROW)) !=
	    (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EPROTO;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != len)
		return -EPROTO;
	return 0;
}

/* Our own copies of the fds side desc->side uses. */
static int xl_local_take_fds(struct xl_local *lo,
			     const struct xl_chan_desc *desc)
{
	unsigned int s = desc->side, w;

	for (w = 0; w < 2; w++) {
		lo->wait_efd[w] = xl_keeper_dup(desc->u.local.efd[s][w]);
		if (lo->wait_efd[w] < 0)
			return lo->wait_efd[w];
		lo->kick_efd[w] = xl_keeper_dup(desc->u.local.efd[!s][w]);
		if (lo->kick_efd[w] < 0)
			return lo->kick_efd[w];
	}
	lo->hup = xl_keeper_dup(desc->u.local.hup);
	return lo->hup < 0 ? lo->hup : 0;
}

static int xl_local_attach(struct xl_chan *ch, const struct xl_chan_desc *desc)
{
	uint32_t o0 = desc->order[0], o1 = desc->order[1], s = desc->side;
	struct xl_local *lo;
	uint64_t len;
	int ret;

	if (desc->kind != XL_BACKEND_LOCAL || s > 1 ||
	    o0 < XL_WIRE_MIN_ORDER || o0 > XL_WIRE_MAX_ORDER ||
	    o1 < XL_WIRE_MIN_ORDER || o1 > XL_WIRE_MAX_ORDER)
		return -EINVAL;
	len = xl_wire_chan_size(o0, o1);
	ret = xl_local_check_memfd(desc->u.local.memfd, len);
	if (ret < 0)
		return ret;
	ret = xl_local_new(ch, len);
	if (ret < 0)
		return ret;
	lo = ch->be;
	ret = xl_local_map(ch, desc->u.local.memfd);
	if (ret < 0)
		goto out_free;
	ret = xl_local_take_fds(lo, desc);
	if (ret < 0)
		goto out_free;
	ch->side = s;
	return 0;

out_free:
	xl_local_free(ch);
	return ret;
}

static int xl_local_notify(struct xl_chan *ch, enum xl_wait w)
{
	struct xl_local *lo = ch->be;
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: a wake-up is pending. */
	if (write(lo->kick_efd[w], &one, sizeof(one)) < 0 && errno != EAGAIN)
		return -errno;
	return 0;
}

static int xl_local_wake_self(struct xl_chan *ch)
{
	struct xl_local *lo = ch->be;
	uint64_t one = 1;

	if (write(lo->wait_efd[XL_WAIT_DATA], &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		return -errno;
	if (write(lo->wait_efd[XL_WAIT_SPACE], &one, sizeof(one)) < 0 &&
	    errno != EAGAIN)
		return -errno;
	return 0;
}

static int xl_local_pollfds(struct xl_chan *ch, enum xl_wait w,
			    struct pollfd *pfd, int max)
{
	struct xl_local *lo = ch->be;

	if (max < 2)
		return -EINVAL;
	pfd[0] = (struct pollfd){ .fd = lo->wait_efd[w], .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = lo->hup, .events = POLLIN };
	return 2;
}

static int xl_local_ack(struct xl_chan *ch, enum xl_wait w,
			const struct pollfd *pfd, int n)
{
	struct xl_local *lo = ch->be;
	bool kicked = !pfd || (n > 0 && pfd[0].revents);
	bool hup = !pfd || (n > 1 && pfd[1].revents);
	uint64_t count;
	char byte;
	ssize_t got;

	if (kicked && read(lo->wait_efd[w], &count, sizeof(count)) < 0 &&
	    errno != EAGAIN)
		return -errno;
	if (!hup)
		return 0;
	/* Nobody writes to the pair: 0 is the peer's last close, data is a
	 * peer that does not follow the protocol. */
	got = recv(lo->hup, &byte, 1, MSG_DONTWAIT);
	if (got >= 0 || (errno != EAGAIN && errno != EINTR))
		return -ECONNRESET;
	return 0;
}

/* ch may be shared with a process that goes on with it: not a write. */
static void xl_local_forget(struct xl_chan *ch)
{
	xl_local_release(ch->be);
}

static void xl_local_destroy(struct xl_chan *ch)
{
	if (ch->ctrl) {
		XL_WRITE_ONCE(ch->ctrl->dir[ch->side].p.live, XL_WIRE_DEAD);
		/* live byte /before/ the peer wakes to look at it */
		xl_smp_mb();
		xl_local_notify(ch, XL_WAIT_DATA);
		xl_local_notify(ch, XL_WAIT_SPACE);
	}
	xl_local_free(ch);
	ch->ctrl = NULL;
	ch->data = NULL;
}

static void xl_local_desc_release(struct xl_chan_desc *desc)
{
	xl_local_close_fds(&desc->u.local.memfd, 1);
	xl_local_close_fds(&desc->u.local.efd[0][0], 4);
	xl_local_close_fds(&desc->u.local.hup, 1);
}

/* memfd pages: a hole punched in the file, taken from both mappings. */
static int xl_local_reclaim(struct xl_chan *ch, void *addr, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);

	(void)ch;
	if (page <= 0 || ((uintptr_t)addr | len) & ((size_t)page - 1))
		return -EOPNOTSUPP;	/* a ring smaller than a page */
	if (madvise(addr, len, MADV_REMOVE) < 0)
		return -errno;
	return 0;
}

static int xl_local_move_fd(struct xl_chan *ch, int fd)
{
	struct xl_local *lo = ch->be;

	if (!lo)
		return 0;
	return xl_keeper_move((int *const[]){ &lo->wait_efd[0],
					      &lo->wait_efd[1],
					      &lo->kick_efd[0],
					      &lo->kick_efd[1], &lo->hup },
			      5, fd);
}

const struct xl_backend_ops xl_backend_local = {
	.name = "local",
	.kind = XL_BACKEND_LOCAL,
	.create = xl_local_create,
	.attach = xl_local_attach,
	.notify = xl_local_notify,
	.wake_self = xl_local_wake_self,
	.pollfds = xl_local_pollfds,
	.ack = xl_local_ack,
	.destroy = xl_local_destroy,
	.forget = xl_local_forget,
	.desc_release = xl_local_desc_release,
	.create_pair = xl_local_create_pair,
	.move_fd = xl_local_move_fd,
	.reclaim = xl_local_reclaim,
};
