/* SPDX-License-Identifier: MIT */
/*
 * A client that may hold an io_uring instance (tests/e2e/uring.sh):
 *   uring_probe ADDR PORT with|without
 * makes the instance first (with), then connects and exchanges 200
 * messages of 1000 bytes with an echo server, checking every byte. It
 * never queues anything on the instance: what matters is that the
 * library sees it and keeps the connection on TCP. Exit 77 when the
 * kernel gives no io_uring here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static int xfer(int fd)
{
	char out[1000], in[1000];
	size_t got;
	ssize_t n;
	int i;

	for (i = 0; i < 200; i++) {
		memset(out, 'a' + i % 26, sizeof(out));
		if (send(fd, out, sizeof(out), 0) != (ssize_t)sizeof(out))
			return -1;
		for (got = 0; got < sizeof(in); got += (size_t)n) {
			n = recv(fd, in + got, sizeof(in) - got, 0);
			if (n <= 0)
				return -1;
		}
		if (memcmp(in, out, sizeof(in)))
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct io_uring_params p;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int ring = -1, fd;

	if (argc != 4)
		return 2;
	if (!strcmp(argv[3], "with")) {
		memset(&p, 0, sizeof(p));
		ring = (int)syscall(__NR_io_uring_setup, 4, &p);
		if (ring < 0) {
			fprintf(stderr, "uring_probe: no io_uring: %s\n",
				strerror(errno));
			return 77;
		}
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1)
		return 2;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("uring_probe: connect");
		return 1;
	}
	if (xfer(fd) < 0) {
		fprintf(stderr, "uring_probe: the echo differs\n");
		return 1;
	}
	close(fd);
	if (ring >= 0)
		close(ring);
	printf("uring_probe: 200 echoes byte-exact (%s io_uring)\n", argv[3]);
	return 0;
}
