/* SPDX-License-Identifier: MIT */
/*
 * xenloop.ko between two guests of a real Xen host (tests/xen).
 *
 * Guest 1 runs "xen_kmod_probe a -D DOMID", guest 2 "xen_kmod_probe b -D
 * DOMID" (each its own domid); guest 2 connects to guest 1 over plain TCP
 * (198.18.0.1:7420), which carries the offer and the reply. Results are
 * lines on stdout, collected from the serial log by run.sh:
 *
 *	XLTEST <name> PASS|FAIL <detail>
 *	XLINFO <text>
 *
 * How this works
 *
 * Each guest first checks that /dev/xenloop refuses bad arguments with
 * the errno the ABI promises, and that a channel it closes itself turns
 * void the way a suspended one does (kmod_args_<role>). Then guest 1
 * offers a channel to guest 2's domid (XLDEV_IOC_CREATE), sends the
 * grant references and the port over TCP, guest 2 connects
 * (XLDEV_IOC_CONNECT) and sends its own references back, and guest 1
 * accepts them. The two then take turns, ROUNDS times: one writes a
 * buffer with a header (round, length, checksum) into its own pages and
 * kicks; the other waits in poll() for POLLIN, reads the counter, reads
 * the peer's pages (mmap where the module allows it, XLDEV_CHAN_IOC_PEEK
 * on PV) and checks them, and answers the same way. Guest 1 sends its
 * verdict to guest 2, which reports kmod_chan for both. Last, each guest
 * checks that the module cannot be removed while a channel is open and
 * can be once every fd and mapping is gone (kmod_unload_<role>).
 *
 * Guest 3 runs "xen_kmod_probe c -D DOMID": a channel between two fds of
 * its own (offered to its own domid and connected to it), then asleep in
 * poll() until dom0 saves and restores it; both sides must then be void
 * (kmod_restore_c), and the module must come out (kmod_unload_c). Exit
 * status 3: no suspend came (the first life, which dom0 destroys).
 */
#include "config.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xenloop/xenloop_dev.h>

#include "xl_chan.h"
#include "xl_xen_kmod.h"

#define PORT		7420
#define PAGES		4
#define PAGE		4096u
#define ROUNDS		50
#define WAIT_MS		10000
#define CONNECT_MS	90000
#define MAGIC		0x584c4b50u	/* "XLKP" */

struct hdr {
	uint32_t magic;
	uint32_t round;
	uint32_t len;
	uint32_t sum;
};

static char role;
static char fail_why[256];

__attribute__((format(printf, 1, 2)))
static void failf(const char *fmt, ...)
{
	va_list ap;

	if (fail_why[0])
		return;		/* the first failure says the most */
	va_start(ap, fmt);
	vsnprintf(fail_why, sizeof(fail_why), fmt, ap);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* FNV-1a over the payload */
static uint32_t sum32(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	while (n--)
		h = (h ^ *p++) * 16777619u;
	return h;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;

	while (n--) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		*p++ = (uint8_t)x;
	}
}

/* -------- the side channel: lines over TCP -------- */

static int tcp_listen_accept(int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(PORT) };
	struct pollfd pfd;
	int lfd, fd = -1, one = 1;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    listen(lfd, 1) == 0) {
		pfd = (struct pollfd){ .fd = lfd, .events = POLLIN };
		if (poll(&pfd, 1, timeout_ms) == 1)
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	}
	close(lfd);
	return fd;
}

static int tcp_connect(const char *addr, int timeout_ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(PORT) };
	double end = now_s() + timeout_ms / 1000.0;
	int fd;

	inet_pton(AF_INET, addr, &sa.sin_addr);
	while (now_s() < end) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -1;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		close(fd);
		usleep(200000);
	}
	return -1;
}

__attribute__((format(printf, 2, 3)))
static int send_line(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	return write(fd, buf, n) == n ? 0 : -1;
}

/* One line (without its newline), waiting at most timeout_ms. */
static int recv_line(int fd, char *buf, size_t size, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t n = 0;
	char c;

	while (n + 1 < size) {
		if (poll(&pfd, 1, timeout_ms) != 1 || read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n') {
			buf[n] = 0;
			return 0;
		}
		buf[n++] = c;
	}
	return -1;
}

/* "n r0 r1 ..." */
static int fmt_refs(char *buf, size_t size, const uint32_t *refs, int n)
{
	int off = snprintf(buf, size, "%d", n), i;

	for (i = 0; i < n; i++)
		off += snprintf(buf + off, size - off, " %u", refs[i]);
	return off;
}

static int parse_refs(const char *s, uint32_t *refs, int max)
{
	char *end;
	long n = strtol(s, &end, 10);
	int i;

	if (n < 1 || n > max)
		return -1;
	for (i = 0; i < n; i++)
		refs[i] = strtoul(end, &end, 10);
	return (int)n;
}

/* -------- argument checks -------- */

#define EXPECT(call, err, what)						\
	do {								\
		errno = 0;						\
		if ((call) != -1 || errno != (err))			\
			failf("%s: got %s, want %s", what,		\
			      strerror(errno), strerror(err));		\
	} while (0)

static void check_args(int dev, uint32_t peer)
{
	uint32_t refs[XLDEV_MAX_PAGES + 1];
	struct xldev_create c;
	struct xldev_connect k;
	struct xldev_chan_info info;
	struct xldev_accept a;
	struct xldev_peek pk;
	struct pollfd pfd;
	uint64_t v;
	uint8_t *own;
	void *p;

	c = (struct xldev_create){ .peer_domid = peer, .own_pages = 0,
				   .refs = (uintptr_t)refs };
	EXPECT(ioctl(dev, XLDEV_IOC_CREATE, &c), EINVAL, "create 0 pages");
	c.own_pages = XLDEV_MAX_PAGES + 1;
	EXPECT(ioctl(dev, XLDEV_IOC_CREATE, &c), EINVAL, "create too many");
	c.own_pages = 1;
	c.peer_domid = XLDEV_DOMID_LIMIT;
	EXPECT(ioctl(dev, XLDEV_IOC_CREATE, &c), EINVAL, "create DOMID_*");
	c.peer_domid = peer;
	c.flags = 1;
	EXPECT(ioctl(dev, XLDEV_IOC_CREATE, &c), EINVAL, "create flags");
	c.flags = 0;
	c.refs = 0;
	EXPECT(ioctl(dev, XLDEV_IOC_CREATE, &c), EINVAL, "create no refs");
	c.refs = 8;	/* unmapped: the channel is made, then undone */
	EXPECT(ioctl(dev, XLDEV_IOC_CREATE, &c), EFAULT, "create bad refs");
	EXPECT(ioctl(dev, XLDEV_IOC_CREATE, (void *)8), EFAULT,
	       "create bad arg");
	EXPECT(ioctl(dev, _IO(XLDEV_IOC_MAGIC, 0x7f)), ENOTTY, "unknown");
	/* a reference nobody granted: mapping fails, nothing is left */
	refs[0] = 0x7ffffff0;
	k = (struct xldev_connect){ .peer_domid = peer, .peer_pages = 1,
				    .peer_refs = (uintptr_t)refs,
				    .peer_port = 1, .own_pages = 1,
				    .own_refs = (uintptr_t)(refs + 1) };
	EXPECT(ioctl(dev, XLDEV_IOC_CONNECT, &k), EINVAL, "connect bad ref");
	k.peer_port = 0;
	EXPECT(ioctl(dev, XLDEV_IOC_CONNECT, &k), EINVAL, "connect port 0");

	/* a channel of our own, closed by us: void as after a suspend */
	c = (struct xldev_create){ .peer_domid = peer, .own_pages = 2,
				   .refs = (uintptr_t)refs };
	if (ioctl(dev, XLDEV_IOC_CREATE, &c) < 0) {
		failf("create: %s", strerror(errno));
		return;
	}
	EXPECT(read(c.fd, &v, 4), EINVAL, "read 4 bytes");
	fcntl(c.fd, F_SETFL, O_NONBLOCK);
	EXPECT(read(c.fd, &v, 8), EAGAIN, "read nothing pending");
	EXPECT(ioctl(c.fd, XLDEV_CHAN_IOC_KICK), ENOTCONN, "kick offered");
	pk = (struct xldev_peek){ .offset = 0, .len = 1,
				  .buf = (uintptr_t)&v };
	EXPECT(ioctl(c.fd, XLDEV_CHAN_IOC_PEEK, &pk), ENOTCONN,
	       "peek offered");
	EXPECT(ioctl(c.fd, XLDEV_IOC_VERSION, &info), ENOTTY,
	       "device ioctl on a channel");
	p = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, c.fd, 0);
	if (p != MAP_FAILED || errno != EINVAL)
		failf("mmap past own pages: %s", strerror(errno));
	p = mmap(NULL, PAGE, PROT_READ, MAP_PRIVATE, c.fd, 0);
	if (p != MAP_FAILED || errno != EINVAL)
		failf("mmap private: %s", strerror(errno));
	own = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, c.fd,
		   0);
	if (own == MAP_FAILED) {
		failf("mmap own: %s", strerror(errno));
		close(c.fd);
		return;
	}
	fill(own, 2 * PAGE, 7);
	a = (struct xldev_accept){ .peer_pages = 0, .chan_fd = c.fd,
				   .peer_refs = (uintptr_t)refs };
	EXPECT(ioctl(dev, XLDEV_IOC_ACCEPT, &a), EINVAL, "accept 0 pages");
	a.peer_pages = 1;
	/* only on the device, and only naming a channel */
	EXPECT(ioctl(c.fd, _IOW(XLDEV_IOC_MAGIC, 0x10, struct xldev_accept),
		     &a), ENOTTY, "accept on the channel fd");
	a.chan_fd = dev;
	EXPECT(ioctl(dev, XLDEV_IOC_ACCEPT, &a), EINVAL,
	       "accept naming the device");
	a.chan_fd = -1;
	EXPECT(ioctl(dev, XLDEV_IOC_ACCEPT, &a), EBADF, "accept naming fd -1");
	a.chan_fd = c.fd;
	a.peer_pages = 0;
	pfd = (struct pollfd){ .fd = c.fd, .events = POLLIN | POLLOUT };
	if (poll(&pfd, 1, 0) != 0)
		failf("poll offered: revents %#x", pfd.revents);
	if (ioctl(c.fd, XLDEV_CHAN_IOC_CLOSE) < 0)
		failf("close: %s", strerror(errno));
	if (poll(&pfd, 1, 0) != 1 ||
	    (pfd.revents & (POLLERR | POLLHUP)) != (POLLERR | POLLHUP))
		failf("poll void: revents %#x", pfd.revents);
	if (read(c.fd, &v, 8) != 0)
		failf("read void: not end of file");
	EXPECT(ioctl(c.fd, XLDEV_CHAN_IOC_KICK), EPIPE, "kick void");
	EXPECT(ioctl(dev, XLDEV_IOC_ACCEPT, &a), EINVAL,
	       "accept void, 0 pages");
	a.peer_pages = 1;
	EXPECT(ioctl(dev, XLDEV_IOC_ACCEPT, &a), EPIPE, "accept void");
	if (ioctl(c.fd, XLDEV_CHAN_IOC_INFO, &info) < 0 ||
	    info.state != XLDEV_STATE_VOID ||
	    info.void_reason != XLDEV_VOID_CLOSED || info.port != 0)
		failf("info void: state %u reason %u port %u", info.state,
		      info.void_reason, info.port);
	/* our own pages outlive the channel, contents and all */
	{
		uint8_t want[2 * PAGE];

		fill(want, sizeof(want), 7);
		/* but the byte the module clears when it ends one */
		if (own[XLDEV_DEAD_OFFSET] != 0)
			failf("own page 0's dead byte not cleared");
		want[XLDEV_DEAD_OFFSET] = 0;
		if (memcmp(own, want, sizeof(want)))
			failf("own pages changed after close");
	}
	munmap(own, 2 * PAGE);
	close(c.fd);
}

/* -------- the channel -------- */

struct chan {
	int fd;
	uint8_t *own;		/* PAGES, ours, read-write */
	const uint8_t *peer;	/* the peer's, read-only, or NULL: peek */
	bool peer_mmap;
};

static int chan_map(struct chan *ch)
{
	struct xldev_chan_info info;

	if (ioctl(ch->fd, XLDEV_CHAN_IOC_INFO, &info) < 0)
		return -1;
	ch->own = mmap(NULL, PAGES * PAGE, PROT_READ | PROT_WRITE,
		       MAP_SHARED, ch->fd, 0);
	if (ch->own == MAP_FAILED)
		return -1;
	ch->peer_mmap = info.flags & XLDEV_F_PEER_MMAP;
	if (ch->peer_mmap) {
		/* read-only is all the module allows */
		if (mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED,
			 ch->fd, PAGES * PAGE) != MAP_FAILED ||
		    errno != EACCES)
			failf("peer pages mapped writable: %s",
			      strerror(errno));
		ch->peer = mmap(NULL, PAGES * PAGE, PROT_READ, MAP_SHARED,
				ch->fd, PAGES * PAGE);
		if (ch->peer == MAP_FAILED)
			return -1;
	} else {
		errno = 0;
		if (mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ch->fd,
			 PAGES * PAGE) != MAP_FAILED || errno != EOPNOTSUPP)
			failf("PV: peer pages mmap: %s", strerror(errno));
		ch->peer = NULL;
	}
	printf("XLINFO kmod %c: peer pages by %s\n", role,
	       ch->peer_mmap ? "mmap" : "XLDEV_CHAN_IOC_PEEK");
	return 0;
}

static int peer_read(struct chan *ch, void *buf, size_t off, size_t len)
{
	struct xldev_peek pk = { .offset = off, .len = len,
				 .buf = (uintptr_t)buf };

	if (ch->peer) {
		memcpy(buf, ch->peer + off, len);
		return 0;
	}
	return ioctl(ch->fd, XLDEV_CHAN_IOC_PEEK, &pk);
}

static void chan_send(struct chan *ch, uint32_t round)
{
	struct hdr *h = (struct hdr *)ch->own;
	uint8_t *data = ch->own + sizeof(*h);
	uint32_t len = PAGES * PAGE - sizeof(*h) - (round * 97) % 1000;

	fill(data, len, round * 2 + (role == 'a'));
	h->magic = MAGIC;
	h->len = len;
	h->sum = sum32(data, len);
	/* payload /before/ round; the kick's hypercall orders the rest */
	__atomic_store_n(&h->round, round, __ATOMIC_RELEASE);
	if (ioctl(ch->fd, XLDEV_CHAN_IOC_KICK) < 0)
		failf("kick: %s", strerror(errno));
}

/* Wait for the peer's buffer of this round; 0 when it checks out. */
static int chan_recv(struct chan *ch, uint32_t round, char peer_role)
{
	static uint8_t buf[PAGES * PAGE];
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	struct hdr h;
	uint64_t kicks;
	double end = now_s() + WAIT_MS / 1000.0;

	for (;;) {
		if (ch->peer) {
			const struct hdr *ph = (const struct hdr *)ch->peer;

			/* round /before/ payload */
			h.round = __atomic_load_n(&ph->round,
						  __ATOMIC_ACQUIRE);
			h.magic = ph->magic;
			h.len = ph->len;
			h.sum = ph->sum;
		} else if (peer_read(ch, &h, 0, sizeof(h)) < 0) {
			failf("peer read: %s", strerror(errno));
			return -1;
		}
		if (h.round == round)
			break;
		if (now_s() > end) {
			failf("round %u: no buffer within %d ms", round,
			      WAIT_MS);
			return -1;
		}
		if (poll(&pfd, 1, WAIT_MS) == 1) {
			if (pfd.revents & (POLLERR | POLLHUP)) {
				failf("round %u: channel void", round);
				return -1;
			}
			if (read(ch->fd, &kicks, sizeof(kicks)) != 8)
				failf("read kicks: %s", strerror(errno));
		}
	}
	if (h.magic != MAGIC || h.len > sizeof(buf) - sizeof(h)) {
		failf("round %u: bad header", round);
		return -1;
	}
	if (peer_read(ch, buf, sizeof(h), h.len) < 0) {
		failf("peer read: %s", strerror(errno));
		return -1;
	}
	if (sum32(buf, h.len) != h.sum) {
		failf("round %u: checksum", round);
		return -1;
	}
	/* and the content is what the peer's generator made */
	{
		static uint8_t want[PAGES * PAGE];

		fill(want, h.len, round * 2 + (peer_role == 'a'));
		if (memcmp(want, buf, h.len)) {
			failf("round %u: content", round);
			return -1;
		}
	}
	return 0;
}

static int exchange(struct chan *ch, double *took)
{
	double t0 = now_s();
	uint32_t r;
	char peer_role = role == 'a' ? 'b' : 'a';

	for (r = 1; r <= ROUNDS; r++) {
		if (role == 'a') {
			chan_send(ch, r);
			if (chan_recv(ch, r, peer_role))
				return -1;
		} else {
			if (chan_recv(ch, r, peer_role))
				return -1;
			chan_send(ch, r);
		}
	}
	*took = now_s() - t0;
	return 0;
}

static int module_remove(void)
{
	return syscall(SYS_delete_module, "xenloop", O_NONBLOCK);
}

static void unload_check(int dev, struct chan *ch)
{
	struct stat st;
	const char *why = NULL;

	if (module_remove() == 0)
		why = "removed with a channel open";
	if (ch->own)
		munmap(ch->own, PAGES * PAGE);
	if (ch->peer)
		munmap((void *)ch->peer, PAGES * PAGE);
	close(ch->fd);
	close(dev);
	if (!why && module_remove() < 0)
		why = strerror(errno);
	if (!why && stat("/dev/xenloop", &st) == 0)
		why = "/dev/xenloop still there";
	if (why)
		printf("XLTEST kmod_unload_%c FAIL %s\n", role, why);
	else
		printf("XLTEST kmod_unload_%c PASS refused while open, "
		       "removed once closed\n", role);
}

static void ring_check(int dev, int sock, uint32_t peer);

static int run(const char *addr, uint32_t me)
{
	struct xldev_version ver;
	struct chan ch = { .fd = -1 };
	uint32_t refs[XLDEV_MAX_PAGES], peer = 0;
	char line[8192], verdict[300];
	double took = 0;
	int dev, sock, n, ok;

	dev = open("/dev/xenloop", O_RDWR | O_CLOEXEC);
	if (dev < 0 || ioctl(dev, XLDEV_IOC_VERSION, &ver) < 0 ||
	    ver.abi != XLDEV_ABI_VERSION) {
		printf("XLTEST kmod_args_%c FAIL /dev/xenloop: %s\n", role,
		       strerror(errno));
		return 1;
	}
	printf("XLINFO kmod %c: ABI %u, max %u pages, flags %#x, budget %u\n",
	       role, ver.abi, ver.max_pages, ver.flags, ver.budget);

	sock = role == 'a' ? tcp_listen_accept(CONNECT_MS) :
		tcp_connect(addr, CONNECT_MS);
	if (sock < 0) {
		printf("XLTEST kmod_args_%c FAIL no side channel\n", role);
		return 1;
	}
	/* the domids first: the argument checks need the peer's */
	send_line(sock, "DOMID %u", me);
	if (recv_line(sock, line, sizeof(line), WAIT_MS) < 0 ||
	    sscanf(line, "DOMID %u", &peer) != 1) {
		printf("XLTEST kmod_args_%c FAIL no domid from the peer\n",
		       role);
		return 1;
	}
	check_args(dev, peer);
	printf("XLTEST kmod_args_%c %s %s\n", role, fail_why[0] ? "FAIL" :
	       "PASS", fail_why[0] ? fail_why : "every bad call refused");
	fail_why[0] = 0;

	if (role == 'a') {
		struct xldev_create c = { .peer_domid = peer,
					  .own_pages = PAGES,
					  .refs = (uintptr_t)refs };
		struct xldev_accept a = { .peer_refs = (uintptr_t)refs };

		if (ioctl(dev, XLDEV_IOC_CREATE, &c) < 0) {
			failf("create: %s", strerror(errno));
			send_line(sock, "FAIL");
			goto out;
		}
		ch.fd = c.fd;
		n = snprintf(line, sizeof(line), "OFFER %u ", c.port);
		fmt_refs(line + n, sizeof(line) - n, refs, PAGES);
		send_line(sock, "%s", line);
		if (recv_line(sock, line, sizeof(line), WAIT_MS) < 0 ||
		    strncmp(line, "REPLY ", 6) ||
		    (n = parse_refs(line + 6, refs, XLDEV_MAX_PAGES)) < 0) {
			failf("no reply: %s", line);
			goto out;
		}
		a.peer_pages = n;
		a.chan_fd = ch.fd;
		if (ioctl(dev, XLDEV_IOC_ACCEPT, &a) < 0) {
			failf("accept: %s", strerror(errno));
			goto out;
		}
		if (ioctl(dev, XLDEV_IOC_ACCEPT, &a) == 0 ||
		    errno != EISCONN)
			failf("second accept: %s", strerror(errno));
	} else {
		struct xldev_connect k = { .peer_domid = peer,
					   .own_pages = PAGES,
					   .peer_refs = (uintptr_t)refs };
		uint32_t own_refs[PAGES];
		char *end;

		if (recv_line(sock, line, sizeof(line), WAIT_MS) < 0 ||
		    strncmp(line, "OFFER ", 6)) {
			failf("no offer");
			goto out;
		}
		k.peer_port = strtoul(line + 6, &end, 10);
		n = parse_refs(end, refs, XLDEV_MAX_PAGES);
		if (n < 0) {
			failf("bad offer: %s", line);
			goto out;
		}
		k.peer_pages = n;
		k.own_refs = (uintptr_t)own_refs;
		if (ioctl(dev, XLDEV_IOC_CONNECT, &k) < 0) {
			failf("connect: %s", strerror(errno));
			send_line(sock, "FAIL");
			goto out;
		}
		ch.fd = k.fd;
		n = snprintf(line, sizeof(line), "REPLY ");
		fmt_refs(line + n, sizeof(line) - n, own_refs, PAGES);
		send_line(sock, "%s", line);
	}
	if (chan_map(&ch) < 0) {
		failf("mmap: %s", strerror(errno));
		goto out;
	}
	if (exchange(&ch, &took) == 0) {
		struct xldev_chan_info info;

		if (ioctl(ch.fd, XLDEV_CHAN_IOC_INFO, &info) < 0 ||
		    info.state != XLDEV_STATE_CONNECTED ||
		    info.kicks_out != ROUNDS || info.kicks_in < 1)
			failf("info: state %u kicks out %llu in %llu",
			      info.state, (unsigned long long)info.kicks_out,
			      (unsigned long long)info.kicks_in);
		else
			printf("XLINFO kmod %c: %d rounds of %u bytes each way"
			       " in %.3f s, %llu kicks in\n", role, ROUNDS,
			       PAGES * PAGE, took,
			       (unsigned long long)info.kicks_in);
	}
out:
	if (role == 'a') {
		send_line(sock, "VERDICT %s", fail_why[0] ? fail_why : "ok");
	} else {
		ok = recv_line(sock, verdict, sizeof(verdict), 2 * WAIT_MS *
			       ROUNDS / 10) == 0 &&
			strcmp(verdict, "VERDICT ok") == 0;
		if (!fail_why[0] && !ok)
			failf("guest 1: %s", verdict);
		printf("XLTEST kmod_chan %s %s\n", fail_why[0] ? "FAIL" :
		       "PASS", fail_why[0] ? fail_why : "checksummed buffers"
		       " both ways, every round");
		if (!fail_why[0])
			printf("XLINFO kmod_chan: %d round trips of %u bytes "
			       "in %.3f s\n", ROUNDS, PAGES * PAGE, took);
	}
	fail_why[0] = 0;
	ring_check(dev, sock, peer);
	/* both done with the channels before either ends them */
	send_line(sock, "DONE");
	recv_line(sock, line, sizeof(line), WAIT_MS);
	close(sock);
	unload_check(dev, &ch);
	return 0;
}

/* -------- the library's transport over a module channel -------- */

#define RING_ORDER	16		/* 64 KiB each way: 17 pages a side */
#define RING_BYTES	(4u << 20)	/* each way */

/* Send RING_BYTES of a seeded pattern, then the end of our stream. */
static int ring_send(struct xl_chan *ch, uint32_t seed, uint32_t *sum)
{
	static uint8_t buf[65536];
	struct iovec iov;
	size_t done = 0, n, off;
	ssize_t got;
	int ret;

	*sum = 0;
	ret = xl_chan_tx_open(ch, 0);
	if (ret < 0)
		return ret;
	while (done < RING_BYTES) {
		n = RING_BYTES - done < sizeof(buf) ? RING_BYTES - done :
			sizeof(buf);
		fill(buf, n, seed + (uint32_t)(done / sizeof(buf)));
		*sum = *sum * 31 + sum32(buf, n);
		for (off = 0; off < n; off += (size_t)got) {
			iov = (struct iovec){ buf + off, n - off };
			got = xl_chan_send(ch, &iov, 1, 0, WAIT_MS);
			if (got <= 0)
				return got < 0 ? (int)got : -EPIPE;
		}
		done += n;
	}
	return xl_chan_shutdown_tx(ch);
}

/* Receive to the end of the peer's stream, in the sender's pieces. */
static int ring_recv(struct xl_chan *ch, uint32_t *sum, size_t *total)
{
	static uint8_t buf[65536];
	struct iovec iov;
	size_t have = 0;
	ssize_t got;

	*sum = 0;
	*total = 0;
	for (;;) {
		iov = (struct iovec){ buf + have, sizeof(buf) - have };
		got = xl_chan_recv(ch, &iov, 1, 0, WAIT_MS);
		if (got < 0)
			return (int)got;
		if (got == 0)
			break;
		have += (size_t)got;
		*total += (size_t)got;
		if (have == sizeof(buf)) {
			*sum = *sum * 31 + sum32(buf, have);
			have = 0;
		}
	}
	if (have)
		*sum = *sum * 31 + sum32(buf, have);
	return 0;
}

/*
 * kmod_ring: the channel xenloopd would make (xl_xen_kmod.h), driven by
 * the library's rings (the xenkmod transport): RING_BYTES from guest 1 to
 * guest 2, then back, each checksummed against the sender's. Only the
 * channel fd is used after the set-up: the data path of a process that
 * holds no other file of the module or of /dev/xen.
 */
static void ring_check(int dev, int sock, uint32_t peer)
{
	uint32_t order[2] = { RING_ORDER, RING_ORDER }, refs[XLDEV_MAX_PAGES];
	uint32_t nrefs, port, sum, psum, side = role == 'a' ? 0 : 1;
	struct xl_chan_desc desc;
	struct xl_chan *ch = NULL;
	struct xl_chan_stats st;
	char line[8192], *end;
	double t0, t_send = 0, t_recv = 0;
	bool peer_mmap = false;
	size_t total;
	int chan = -1, ret, n, i;
	struct xldev_version ver;

	if (ioctl(dev, XLDEV_IOC_VERSION, &ver) == 0)
		peer_mmap = ver.flags & XLDEV_F_PEER_MMAP;
	if (role == 'a') {
		ret = xl_xen_kmod_offer(dev, peer, order, &chan, &port, refs,
					&nrefs);
		if (ret < 0) {
			failf("offer: %s", strerror(-ret));
			send_line(sock, "FAIL");
			goto out;
		}
		n = snprintf(line, sizeof(line), "KOFFER %u ", port);
		fmt_refs(line + n, sizeof(line) - n, refs, (int)nrefs);
		send_line(sock, "%s", line);
		if (recv_line(sock, line, sizeof(line), WAIT_MS) < 0 ||
		    strncmp(line, "KREPLY ", 7) ||
		    (n = parse_refs(line + 7, refs, XLDEV_MAX_PAGES)) < 0) {
			failf("no reply: %s", line);
			goto out;
		}
		ret = xl_xen_kmod_accept(dev, chan, order, refs, (uint32_t)n);
		if (ret < 0) {
			failf("accept: %s", strerror(-ret));
			goto out;
		}
	} else {
		uint32_t own[XLDEV_MAX_PAGES];

		if (recv_line(sock, line, sizeof(line), WAIT_MS) < 0 ||
		    strncmp(line, "KOFFER ", 7)) {
			failf("no offer: %s", line);
			goto out;
		}
		port = strtoul(line + 7, &end, 10);
		n = parse_refs(end, refs, XLDEV_MAX_PAGES);
		if (n < 0) {
			failf("bad offer: %s", line);
			goto out;
		}
		ret = xl_xen_kmod_connect(dev, peer, order, refs, (uint32_t)n,
					  port, &chan, own, &nrefs);
		if (ret < 0) {
			failf("connect: %s", strerror(-ret));
			send_line(sock, "FAIL");
			goto out;
		}
		n = snprintf(line, sizeof(line), "KREPLY ");
		fmt_refs(line + n, sizeof(line) - n, own, (int)nrefs);
		send_line(sock, "%s", line);
	}
	ret = xl_xen_kmod_desc(&desc, side, order, chan, -1, peer_mmap);
	if (ret == 0) {
		ret = xl_chan_attach(&ch, &desc, 50000);
		xl_backend_xenkmod.desc_release(&desc);
	}
	close(chan);		/* the channel is the library's now */
	chan = -1;
	if (ret < 0) {
		failf("attach: %s", strerror(-ret));
		goto out;
	}
	for (i = 0; i < 1000 && !xl_chan_tx_peer_attached(ch); i++)
		usleep(10000);
	if (!xl_chan_tx_peer_attached(ch)) {
		failf("the peer never attached");
		goto out;
	}
	for (i = 0; i < 2; i++) {
		bool sending = (i == 0) == (role == 'a');

		t0 = now_s();
		if (sending) {
			ret = ring_send(ch, 0x5eed0000u + (uint32_t)i, &sum);
			if (ret < 0) {
				failf("send %d: %s", i, strerror(-ret));
				goto out;
			}
			t_send = now_s() - t0;
			if (recv_line(sock, line, sizeof(line), 6 * WAIT_MS)
			    < 0 || sscanf(line, "SUM %u", &psum) != 1) {
				failf("no sum from the peer: %s", line);
				goto out;
			}
			if (psum != sum)
				failf("pass %d: sent sum %08x, peer got %08x",
				      i, sum, psum);
		} else {
			ret = ring_recv(ch, &sum, &total);
			t_recv = now_s() - t0;
			if (ret < 0 || total != RING_BYTES) {
				failf("recv %d: %s after %zu bytes", i,
				      strerror(ret < 0 ? -ret : EPROTO), total);
				send_line(sock, "SUM 0");
				goto out;
			}
			send_line(sock, "SUM %u", sum);
		}
	}
	xl_chan_get_stats(ch, &st);
	printf("XLINFO kmod_ring %c: %u bytes sent in %.3f s, received in "
	       "%.3f s (%s), %llu kicks sent, %llu sleeps\n", role,
	       RING_BYTES, t_send, t_recv, peer_mmap ? "peer pages mapped" :
	       "peer pages through PEEK", (unsigned long long)st.notifies,
	       (unsigned long long)st.sleeps);
out:
	if (ch)
		xl_chan_destroy(ch);
	if (chan >= 0)
		close(chan);
	if (role == 'a') {
		send_line(sock, "RVERDICT %s", fail_why[0] ? fail_why : "ok");
	} else {
		bool ok = recv_line(sock, line, sizeof(line), WAIT_MS) == 0 &&
			  strcmp(line, "RVERDICT ok") == 0;

		if (!fail_why[0] && !ok)
			failf("guest 1: %s", line);
		printf("XLTEST kmod_ring %s %s\n", fail_why[0] ? "FAIL" :
		       "PASS", fail_why[0] ? fail_why : "4 MiB each way "
		       "through the library's xenkmod transport, "
		       "checksummed");
	}
	fail_why[0] = 0;
}

/* -------- guest 3: a suspend in the middle -------- */

static int chan_state(int fd, struct xldev_chan_info *info)
{
	return ioctl(fd, XLDEV_CHAN_IOC_INFO, info) < 0 ? -1 :
		(int)info->state;
}

/* After the restore: is this side of the pair void, and nothing more? */
static void check_void(int fd, const uint8_t *own, uint32_t seed)
{
	static uint8_t want[PAGES * PAGE];
	struct xldev_chan_info info;
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };
	uint64_t v;

	if (chan_state(fd, &info) != XLDEV_STATE_VOID ||
	    info.void_reason != XLDEV_VOID_SUSPEND || info.generation < 1)
		failf("info: state %u reason %u generation %u", info.state,
		      info.void_reason, info.generation);
	if (poll(&pfd, 1, 0) != 1 ||
	    (pfd.revents & (POLLERR | POLLHUP)) != (POLLERR | POLLHUP))
		failf("poll: revents %#x", pfd.revents);
	while (read(fd, &v, 8) == 8)
		;	/* kicks from before */
	if (read(fd, &v, 8) != 0)
		failf("read: not end of file");
	EXPECT(ioctl(fd, XLDEV_CHAN_IOC_KICK), EPIPE, "kick void");
	fill(want, sizeof(want), seed);
	/* but the byte the module clears when it ends one */
	if (own[XLDEV_DEAD_OFFSET] != 0)
		failf("own page 0's dead byte not cleared");
	want[XLDEV_DEAD_OFFSET] = 0;
	if (memcmp(own, want, sizeof(want)))
		failf("own pages changed");
}

/*
 * Guest 3, in the life dom0 saves and restores: a channel between two
 * fds of this guest (offered to our own domid and connected to it: each
 * side maps the other's pages), kicked both ways, then poll() on both
 * until the module says a suspend happened (the generation), and then
 * each side must be void (kmod_restore_c); then the module must come out
 * (kmod_unload_c). Returns without a word when the wait runs out: the
 * first life is destroyed instead.
 */
static int run_suspend(uint32_t me, int wait_s)
{
	uint32_t refs_a[PAGES], refs_b[PAGES];
	struct xldev_create c = { .peer_domid = me, .own_pages = PAGES,
				  .refs = (uintptr_t)refs_a };
	struct xldev_connect k = { .peer_domid = me, .peer_pages = PAGES,
				   .peer_refs = (uintptr_t)refs_a,
				   .own_pages = PAGES,
				   .own_refs = (uintptr_t)refs_b };
	struct xldev_accept a = { .peer_pages = PAGES,
				  .peer_refs = (uintptr_t)refs_b };
	struct xldev_chan_info info;
	struct pollfd pfd[2];
	struct chan ca = { .fd = -1 }, cb = { .fd = -1 };
	double end = now_s() + wait_s, t0;
	bool single = false;
	uint64_t v;
	int dev;

	dev = open("/dev/xenloop", O_RDWR | O_CLOEXEC);
	if (dev < 0 || ioctl(dev, XLDEV_IOC_CREATE, &c) < 0) {
		printf("XLTEST kmod_restore_c FAIL create: %s\n",
		       strerror(errno));
		return 1;
	}
	ca.fd = c.fd;
	k.peer_port = c.port;
	if (ioctl(dev, XLDEV_IOC_CONNECT, &k) < 0) {
		/* Xen may not let a domain map its own grants: then the
		 * offered side alone (own grants, an unbound port) */
		printf("XLINFO kmod c: connect to ourselves: %s; the offer "
		       "alone goes through the suspend\n", strerror(errno));
		single = true;
	} else if ((a.chan_fd = ca.fd) < 0 ||
		   ioctl(dev, XLDEV_IOC_ACCEPT, &a) < 0) {
		printf("XLTEST kmod_restore_c FAIL accept: %s\n",
		       strerror(errno));
		return 1;
	}
	cb.fd = single ? ca.fd : k.fd;
	if (chan_map(&ca) < 0 || (!single && chan_map(&cb) < 0)) {
		printf("XLTEST kmod_restore_c FAIL mmap: %s\n",
		       strerror(errno));
		return 1;
	}
	if (!single) {
		role = 'a';
		chan_send(&ca, 1);
		role = 'b';
		chan_send(&cb, 1);
		if (chan_recv(&cb, 1, 'a') || chan_recv(&ca, 1, 'b')) {
			printf("XLTEST kmod_restore_c FAIL before the "
			       "suspend: %s\n", fail_why);
			return 1;
		}
		fill(cb.own, PAGES * PAGE, 32);
	}
	/* own pages as they will be checked */
	fill(ca.own, PAGES * PAGE, 31);
	printf("XLINFO kmod c: %s; waiting for a suspend\n", single ?
	       "a channel offered to ourselves" :
	       "a channel to ourselves, kicked both ways");
	/* asleep in poll() (a freezable wait) on both, as a server is */
	t0 = now_s();
	while (now_s() < end) {
		pfd[0] = (struct pollfd){ .fd = ca.fd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = cb.fd, .events = POLLIN };
		poll(pfd, single ? 1 : 2, 1000);
		if (chan_state(ca.fd, &info) < 0 || info.generation > 0)
			break;
		if (pfd[0].revents & POLLIN)
			read(ca.fd, &v, 8);
		if (!single && (pfd[1].revents & POLLIN))
			read(cb.fd, &v, 8);
	}
	if (info.generation == 0)
		return 3;
	check_void(ca.fd, ca.own, 31);
	if (!single)
		check_void(cb.fd, cb.own, 32);
	printf("XLTEST kmod_restore_c %s %s\n", fail_why[0] ? "FAIL" : "PASS",
	       fail_why[0] ? fail_why : single ? "the offered channel void "
	       "after the restore, POLLERR|POLLHUP, end of file, own pages "
	       "intact" : "both sides void after the restore, "
	       "POLLERR|POLLHUP, end of file, own pages intact");
	printf("XLINFO kmod c: suspend seen %.1f s into the wait\n",
	       now_s() - t0);
	if (!single) {
		munmap(cb.own, PAGES * PAGE);
		close(cb.fd);
	}
	role = 'c';
	unload_check(dev, &ca);
	return 0;
}

/* -------- a server's privilege: what its channel fds allow -------- */

/*
 * kmod_privilege_b (guest-e2e.sh's kmod step): process pid, a server
 * under the shim whose connection is on a channel of the module, holds
 * no /dev/xen file and maps none, holds at least one channel fd, and
 * with those fds (taken with pidfd_getfd: what the process itself could
 * do with them) nothing maps outside the channel, the peer's pages do not
 * map writable, and no device ioctl goes through.
 */
static int run_privilege(pid_t pid)
{
	char path[320], link[256], what[512] = "";
	struct xldev_chan_info info;
	struct xldev_create cr = { 0 };
	struct xldev_connect cn = { 0 };
	struct xldev_accept ac = { 0 };
	struct dirent *de;
	int pidfd, fd, nchan = 0, nxen = 0, refused = 0;
	size_t wl = 0;
	ssize_t n;
	FILE *maps;
	DIR *dir;
	void *m;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	dir = opendir(path);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (!dir || pidfd < 0) {
		printf("XLTEST kmod_privilege_b FAIL process %d: %s\n",
		       (int)pid, strerror(errno));
		return 1;
	}
	while ((de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
			 de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (!strncmp(link, "/dev/xen/", 9) ||
		    !strcmp(link, "/dev/xenloop")) {
			nxen++;
			continue;
		}
		if (strcmp(link, "anon_inode:[xenloop]"))
			continue;
		nchan++;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, atoi(de->d_name), 0);
		if (fd < 0 || ioctl(fd, XLDEV_CHAN_IOC_INFO, &info) < 0) {
			failf("fd %s: %s", de->d_name, strerror(errno));
			continue;
		}
		/* past the channel's pages */
		m = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd,
			 (off_t)(info.own_pages + info.peer_pages) * PAGE);
		if (m != MAP_FAILED)
			failf("fd %s: mapped past its pages", de->d_name);
		else
			refused++;
		/* the peer's first page, writable */
		m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			 (off_t)info.own_pages * PAGE);
		if (m != MAP_FAILED)
			failf("fd %s: the peer's page mapped writable",
			      de->d_name);
		else
			refused++;
		/* the device's calls on a channel */
		if (ioctl(fd, XLDEV_IOC_CREATE, &cr) == 0 ||
		    ioctl(fd, XLDEV_IOC_CONNECT, &cn) == 0 ||
		    ioctl(fd, XLDEV_IOC_ACCEPT, &ac) == 0 ||
		    ioctl(fd, XLDEV_IOC_VERSION, &info) == 0)
			failf("fd %s: a device ioctl went through",
			      de->d_name);
		else if (errno == ENOTTY)
			refused += 4;
		else
			failf("fd %s: device ioctl: %s", de->d_name,
			      strerror(errno));
		wl += (size_t)snprintf(what + wl, sizeof(what) - wl,
				       "%s%s: state %u, %u+%u pages",
				       wl ? "; " : "", de->d_name, info.state,
				       info.own_pages, info.peer_pages);
		if (wl >= sizeof(what))
			wl = sizeof(what) - 1;
		close(fd);
	}
	closedir(dir);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	maps = fopen(path, "r");
	while (maps && fgets(link, sizeof(link), maps))
		if (strstr(link, "/dev/xen"))
			nxen++;
	if (maps)
		fclose(maps);
	if (nxen)
		failf("%d /dev/xen* files or mappings", nxen);
	if (!nchan)
		failf("no channel fd");
	printf("XLTEST kmod_privilege_b %s process %d: %d channel fd(s) (%s),"
	       " 0 /dev/xen files%s; %d calls refused%s%s\n",
	       fail_why[0] ? "FAIL" : "PASS", (int)pid, nchan, what,
	       nxen ? " (NOT: see below)" : "", refused,
	       fail_why[0] ? ": " : "", fail_why);
	return fail_why[0] ? 1 : 0;
}

int main(int argc, char **argv)
{
	const char *addr = "198.18.0.1";
	uint32_t me = UINT32_MAX;
	int opt, wait_s = 400;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "p"))
		return run_privilege((pid_t)atoi(argv[2]));
	if (argc == 2 && !strcmp(argv[1], "v")) {
		/* the module's page budget left (kmod_many) */
		struct xldev_version v;
		int dev = open("/dev/xenloop", O_RDWR | O_CLOEXEC);

		if (dev < 0 || ioctl(dev, XLDEV_IOC_VERSION, &v) < 0)
			return 1;
		printf("budget %u\n", v.budget);
		return 0;
	}
	if (argc < 2 || !strchr("abc", argv[1][0])) {
		fprintf(stderr, "usage: xen_kmod_probe a|b|c -D DOMID "
			"[-l ADDR] [-w SECONDS]\n"
			"       xen_kmod_probe p PID\n"
			"       xen_kmod_probe v\n");
		return 2;
	}
	role = argv[1][0];
	optind = 2;
	while ((opt = getopt(argc, argv, "D:l:w:")) != -1) {
		switch (opt) {
		case 'w':
			wait_s = atoi(optarg);
			break;
		case 'D':
			me = strtoul(optarg, NULL, 10);
			break;
		case 'l':
			addr = optarg;
			break;
		default:
			return 2;
		}
	}
	if (me == UINT32_MAX) {
		fprintf(stderr, "xen_kmod_probe: -D DOMID is required\n");
		return 2;
	}
	return role == 'c' ? run_suspend(me, wait_s) : run(addr, me);
}
