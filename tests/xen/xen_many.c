/* SPDX-License-Identifier: MIT */
/*
 * Many connections at once between guests 1 and 2 (kmod_many, the kmod
 * step of guest-e2e.sh): a plain TCP client and server, run under the
 * library, so that each connection gets a channel of the kernel module.
 *
 *	xen_many s ADDR PORT N			the server, on ADDR:PORT
 *	xen_many c ADDR PORT N HOLD RELEASE	the client
 *
 * The client opens N connections and keeps them all open, each with
 * WARMUPS small round trips as it opens; then ROUNDS times
 * it writes BLOCK bytes of a pattern (seeded by the connection and the
 * round) on every connection, then reads every echo back and compares.
 * Then it creates the file HOLD and waits (at most HOLD_S) for RELEASE
 * to exist, with all N still open (the caller counts the module's
 * channels meanwhile), then closes them all. The server accepts N, echoes
 * BLOCK bytes at a time in the same order, and ends once every
 * connection has ended. Exit status 0 only if every byte came back
 * right; every wait is bounded (alarm()).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK		4096
#define ROUNDS		8
/* Round trips of WARM bytes on each connection right after it opens,
 * one connection after the other: a socket registers with its daemon
 * after 8 data calls (README), and both ends of a connection must do so
 * within the daemons' match timeout (5 s), which a round over all N
 * connections can exceed. */
#define WARMUPS		5
#define WARM		64
#define MAX_N		2000
#define HOLD_S		60
#define LIMIT_S		400

static int fds[MAX_N];

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (uint8_t)(x >> 16);
	}
}

static int full_io(int fd, uint8_t *buf, size_t n, int wr)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = wr ? write(fd, buf + done, n - done) :
			 read(fd, buf + done, n - done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return 0;
}

static int server(struct sockaddr_in *sa, int n)
{
	uint8_t buf[BLOCK];
	int ls, one = 1, i, r;

	ls = socket(AF_INET, SOCK_STREAM, 0);
	if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one)) < 0 ||
	    bind(ls, (struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    listen(ls, 1024) < 0) {
		perror("xen_many: listen");
		return 1;
	}
	for (i = 0; i < n; i++) {
		fds[i] = accept(ls, NULL, NULL);
		if (fds[i] < 0) {
			perror("xen_many: accept");
			return 1;
		}
		for (r = 0; r < WARMUPS; r++) {
			if (full_io(fds[i], buf, WARM, 0) < 0 ||
			    full_io(fds[i], buf, WARM, 1) < 0) {
				fprintf(stderr, "xen_many: warm-up %d: %s\n",
					i, strerror(errno));
				return 1;
			}
		}
	}
	close(ls);
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < n; i++) {
			if (full_io(fds[i], buf, BLOCK, 0) < 0 ||
			    full_io(fds[i], buf, BLOCK, 1) < 0) {
				fprintf(stderr, "xen_many: connection %d, "
					"round %d: %s\n", i, r, strerror(errno));
				return 1;
			}
		}
	}
	/* until the client closes each */
	for (i = 0; i < n; i++) {
		if (read(fds[i], buf, 1) != 0) {
			fprintf(stderr, "xen_many: connection %d: no end\n", i);
			return 1;
		}
		close(fds[i]);
	}
	printf("xen_many: served %d connections, %d rounds of %d bytes\n",
	       n, ROUNDS, BLOCK);
	return 0;
}

static int client(struct sockaddr_in *sa, int n, const char *hold,
		  const char *release)
{
	uint8_t out[BLOCK], in[BLOCK];
	struct timespec t0, t1;
	struct stat st;
	int i, r, bad = 0, waited;
	FILE *f;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 ||
		    connect(fds[i], (struct sockaddr *)sa, sizeof(*sa)) < 0) {
			fprintf(stderr, "xen_many: connection %d: %s\n", i,
				strerror(errno));
			return 1;
		}
		for (r = 0; r < WARMUPS; r++) {
			fill(out, WARM, (uint32_t)(~i - r));
			if (full_io(fds[i], out, WARM, 1) < 0 ||
			    full_io(fds[i], in, WARM, 0) < 0) {
				fprintf(stderr, "xen_many: warm-up %d: %s\n",
					i, strerror(errno));
				return 1;
			}
			bad += memcmp(in, out, WARM) != 0;
		}
	}
	for (r = 0; r < ROUNDS; r++) {
		for (i = 0; i < n; i++) {
			fill(out, BLOCK, (uint32_t)(i * ROUNDS + r));
			if (full_io(fds[i], out, BLOCK, 1) < 0) {
				fprintf(stderr, "xen_many: write %d/%d: %s\n",
					i, r, strerror(errno));
				return 1;
			}
		}
		for (i = 0; i < n; i++) {
			fill(out, BLOCK, (uint32_t)(i * ROUNDS + r));
			if (full_io(fds[i], in, BLOCK, 0) < 0) {
				fprintf(stderr, "xen_many: read %d/%d: %s\n",
					i, r, strerror(errno));
				return 1;
			}
			bad += memcmp(in, out, BLOCK) != 0;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("xen_many: %d connections, %d rounds of %d bytes each way in "
	       "%.1f s, %d echoes wrong\n", n, ROUNDS, BLOCK,
	       (double)(t1.tv_sec - t0.tv_sec) +
	       (double)(t1.tv_nsec - t0.tv_nsec) / 1e9, bad);
	fflush(stdout);
	f = fopen(hold, "w");
	if (f)
		fclose(f);
	for (waited = 0; waited < HOLD_S * 10 && stat(release, &st) < 0;
	     waited++)
		usleep(100000);
	for (i = 0; i < n; i++)
		close(fds[i]);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 5 || (argv[1][0] != 's' && argv[1][0] != 'c') ||
	    (argv[1][0] == 'c' && argc != 7)) {
		fprintf(stderr, "usage: xen_many s ADDR PORT N\n"
			"       xen_many c ADDR PORT N HOLD RELEASE\n");
		return 2;
	}
	n = atoi(argv[4]);
	if (n < 1 || n > MAX_N || inet_pton(AF_INET, argv[2],
					    &sa.sin_addr) != 1)
		return 2;
	sa.sin_port = htons((uint16_t)atoi(argv[3]));
	alarm(LIMIT_S);
	return argv[1][0] == 's' ? server(&sa, n) :
		client(&sa, n, argv[5], argv[6]);
}
