/* SPDX-License-Identifier: MIT */
/*
 * bench/shortconn: short connections, as a web server without keep-alive
 * sees them. The client keeps --inflight connections going (one thread
 * each), every one of them: connect, a 100-byte request, a 100-byte
 * reply, close. The server answers with threads blocked in accept(). The
 * client checks every reply byte (the reply is a function of the request,
 * which names the connection), prints the rate, and exits 1 if a single
 * reply was wrong or missing. Used by tests/e2e/shortconn.sh (correctness)
 * and bench/xlshort (rate, plain against the library).
 *
 *   shortconn server ADDR PORT [--threads N]
 *   shortconn client ADDR PORT [--conns N] [--inflight N] [--json]
 *
 * Every socket has 10 s send and receive timeouts, so nothing waits
 * forever; the callers run it under timeout(1) as well.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SC_MSG		100
#define SC_TIMEOUT_S	10
#define SC_MAX_THREADS	256

static struct sockaddr_in sc_addr = { .sin_family = AF_INET };
static long sc_conns = 5000;
static int sc_inflight = 32;
static bool sc_json;
static int sc_lfd = -1;
static _Atomic long sc_next, sc_done, sc_bad;

static void sc_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = SC_TIMEOUT_S };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* Exactly n bytes, or false. */
static bool sc_io(int fd, char *buf, size_t n, bool out)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		r = out ? send(fd, buf + done, n - done, MSG_NOSIGNAL) :
			  recv(fd, buf + done, n - done, 0);
		if (r > 0)
			done += (size_t)r;
		else if (r == 0 || errno != EINTR)
			return false;
	}
	return true;
}

/* The request of connection id, and the reply the server owes it. */
static void sc_request(long id, char *buf)
{
	int i;

	snprintf(buf, SC_MSG, "GET /%ld", id);
	for (i = (int)strlen(buf); i < SC_MSG; i++)
		buf[i] = (char)('a' + (id + i) % 26);
}

static void sc_reply(const char *req, char *rep)
{
	int i;

	for (i = 0; i < SC_MSG; i++)
		rep[i] = (char)(req[i] ^ (0x5a + i));
}

/* ---- server ---- */

static void *sc_serve(void *arg)
{
	char req[SC_MSG], rep[SC_MSG];
	int fd;

	(void)arg;
	for (;;) {
		fd = accept(sc_lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED ||
			    errno == EMFILE || errno == ENFILE) {
				if (errno != EINTR && errno != ECONNABORTED)
					usleep(1000);
				continue;
			}
			perror("shortconn: accept");
			exit(1);
		}
		sc_timeouts(fd);
		if (sc_io(fd, req, SC_MSG, false)) {
			sc_reply(req, rep);
			sc_io(fd, rep, SC_MSG, true);
		}
		close(fd);
	}
	return NULL;
}

static int sc_server(int threads)
{
	pthread_t t[SC_MAX_THREADS];
	int i, one = 1;

	sc_lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sc_lfd < 0)
		return perror("shortconn: socket"), 1;
	setsockopt(sc_lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(sc_lfd, (struct sockaddr *)&sc_addr, sizeof(sc_addr)) < 0 ||
	    listen(sc_lfd, 1024) < 0)
		return perror("shortconn: listen"), 1;
	printf("listening\n");
	fflush(stdout);
	for (i = 1; i < threads; i++)
		if (pthread_create(&t[i], NULL, sc_serve, NULL))
			return perror("shortconn: thread"), 1;
	sc_serve(NULL);
	return 0;
}

/* ---- client ---- */

static bool sc_one(long id)
{
	char req[SC_MSG], rep[SC_MSG], want[SC_MSG];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok = false;

	if (fd < 0)
		return false;
	sc_timeouts(fd);
	sc_request(id, req);
	sc_reply(req, want);
	if (connect(fd, (struct sockaddr *)&sc_addr, sizeof(sc_addr)) == 0 &&
	    sc_io(fd, req, SC_MSG, true) && sc_io(fd, rep, SC_MSG, false))
		ok = !memcmp(rep, want, SC_MSG);
	/* the server closes first: its end of stream, then ours */
	if (ok && recv(fd, rep, 1, 0) != 0)
		ok = false;
	close(fd);
	return ok;
}

static void *sc_client_thread(void *arg)
{
	long id;

	(void)arg;
	while ((id = atomic_fetch_add(&sc_next, 1)) < sc_conns) {
		if (sc_one(id))
			atomic_fetch_add(&sc_done, 1);
		else if (atomic_fetch_add(&sc_bad, 1) < 5)
			fprintf(stderr, "shortconn: connection %ld: no or a "
				"wrong reply (%s)\n", id, strerror(errno));
	}
	return NULL;
}

static double sc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sc_client(void)
{
	pthread_t t[SC_MAX_THREADS];
	double t0, secs;
	int i;

	t0 = sc_now();
	for (i = 0; i < sc_inflight; i++)
		if (pthread_create(&t[i], NULL, sc_client_thread, NULL))
			return perror("shortconn: thread"), 1;
	for (i = 0; i < sc_inflight; i++)
		pthread_join(t[i], NULL);
	secs = sc_now() - t0;
	if (sc_json)
		printf("{\"conns\": %ld, \"ok\": %ld, \"bad\": %ld, "
		       "\"seconds\": %.3f, \"rate\": %.1f}\n", sc_conns,
		       (long)sc_done, (long)sc_bad, secs, (double)sc_done / secs);
	else
		printf("%ld connections, %ld answered correctly, %ld not, "
		       "%.3f s: %.1f connections/s\n", sc_conns, (long)sc_done,
		       (long)sc_bad, secs, (double)sc_done / secs);
	return sc_bad || sc_done != sc_conns;
}

static int sc_usage(void)
{
	fprintf(stderr, "usage: shortconn server ADDR PORT [--threads N]\n"
		"       shortconn client ADDR PORT [--conns N] [--inflight N] "
		"[--json]\n");
	return 2;
}

int main(int argc, char **argv)
{
	int i, threads = 4;

	if (argc < 4 || inet_pton(AF_INET, argv[2], &sc_addr.sin_addr) != 1)
		return sc_usage();
	sc_addr.sin_port = htons((uint16_t)atoi(argv[3]));
	for (i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			sc_json = true;
		} else if (i + 1 < argc && !strcmp(argv[i], "--threads")) {
			threads = atoi(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--conns")) {
			sc_conns = atol(argv[++i]);
		} else if (i + 1 < argc && !strcmp(argv[i], "--inflight")) {
			sc_inflight = atoi(argv[++i]);
		} else {
			return sc_usage();
		}
	}
	if (threads < 1 || threads > SC_MAX_THREADS || sc_inflight < 1 ||
	    sc_inflight > SC_MAX_THREADS || sc_conns < 1)
		return sc_usage();
	if (!strcmp(argv[1], "server"))
		return sc_server(threads);
	if (!strcmp(argv[1], "client"))
		return sc_client();
	return sc_usage();
}
