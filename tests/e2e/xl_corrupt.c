/* SPDX-License-Identifier: MIT */
/*
 * Test-only fault injection for tests/e2e/chaos.sh: break one ring of a
 * running process the way a buggy or hostile peer would, from outside,
 * with no hook in the library. It opens one of the process's local
 * channels again through /proc/PID/map_files (the mappings of a memfd
 * named "xenloop-chan" that start at its offset 0), maps its control page and turns the producer state of one direction
 * from OPEN into a value no producer writes (compare-and-swap: a ring
 * its producer already left is not touched). The consumer then finds the
 * ring corrupt (-EPROTO) at its next look and, with issue 14's hand-over,
 * carries on over TCP (docs/protocol.md §5.1).
 *
 *	xl_corrupt PID [SEED]	one channel of PID, one direction, at random
 *
 * Prints "corrupted RANGE DIR" or "nothing" (no channel, none open);
 * exits 0 either way, 1 on a usage or system error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "xenloop/wire.h"

#define XL_CORRUPT_MAX	4096
/* What the state becomes: not a state (ring.md §3 knows 0..3). */
#define XL_CORRUPT_STATE	0x7eadu

/* The address ranges ("start-end", as map_files names them) of the
 * channel mappings of pid that hold a control page. */
static int xl_channels(const char *pid, char (*maps)[48], int max)
{
	char path[64], line[512], range[48];
	unsigned long long off;
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%s/maps", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "/memfd:xenloop-chan") ||
		    sscanf(line, "%47s %*s %llx", range, &off) != 2 || off)
			continue;
		memcpy(maps[n++], range, sizeof(range));
	}
	fclose(f);
	return n;
}

/* Break direction dir of the channel mapped at range in pid. Returns 1
 * if it did, 0 if that ring was not open, -errno. */
static int xl_break(const char *pid, const char *range, unsigned int dir)
{
	struct xl_wire_ctrl *ctrl;
	char path[64];
	uint32_t was = XL_WIRE_PROD_OPEN;
	int mfd, ret;

	snprintf(path, sizeof(path), "/proc/%s/map_files/%s", pid, range);
	mfd = open(path, O_RDWR | O_CLOEXEC);
	if (mfd < 0)
		return -errno;
	ctrl = mmap(NULL, XL_WIRE_CTRL_SIZE, PROT_READ | PROT_WRITE,
		    MAP_SHARED, mfd, 0);
	close(mfd);
	if (ctrl == MAP_FAILED)
		return -errno;
	ret = -EPROTO;
	if (ctrl->magic == XL_WIRE_MAGIC)
		ret = __atomic_compare_exchange_n(&ctrl->dir[dir].p.state,
						  &was, XL_CORRUPT_STATE,
						  false, __ATOMIC_SEQ_CST,
						  __ATOMIC_SEQ_CST);
	munmap(ctrl, XL_WIRE_CTRL_SIZE);
	return ret;
}

int main(int argc, char **argv)
{
	static char maps[XL_CORRUPT_MAX][48];
	unsigned int seed, dir, i;
	int n, k, ret;

	if (argc < 2 || argc > 3 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: xl_corrupt PID [SEED]\n");
		return 1;
	}
	seed = argc == 3 ? (unsigned int)strtoul(argv[2], NULL, 0) :
			   (unsigned int)getpid();
	srand(seed);
	n = xl_channels(argv[1], maps, XL_CORRUPT_MAX);
	if (n < 0) {
		fprintf(stderr, "xl_corrupt: %s: %s\n", argv[1], strerror(-n));
		return 1;
	}
	/* from a random start, the first channel with an open ring */
	k = n ? rand() % n : 0;
	for (i = 0; i < 2 * (unsigned int)n; i++) {
		dir = (unsigned int)rand() % 2;
		ret = xl_break(argv[1], maps[(k + i / 2) % n], dir);
		if (ret == 1) {
			printf("corrupted %s %u\n", maps[(k + i / 2) % n], dir);
			return 0;
		}
	}
	printf("nothing\n");
	return 0;
}
