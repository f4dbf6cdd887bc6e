/* SPDX-License-Identifier: MIT */
/*
 * neigh_probe ADDR: print the MAC the neighbour table holds for ADDR
 * (daemon/xl_neigh.c), or exit 2 if it holds none. Driven by neigh.sh.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "xl_addr.h"
#include "xl_neigh.h"

int main(int argc, char **argv)
{
	struct xl_ctl_addr a;
	uint8_t mac[6];
	int ret;

	if (argc != 2 || xl_addr_parse(argv[1], &a) < 0 ||
	    xl_addr_normalize(&a) < 0) {
		fprintf(stderr, "usage: neigh_probe IPV4-OR-IPV6-ADDRESS\n");
		return 64;
	}
	ret = xl_neigh_lookup(&a, mac);
	if (ret == -ENOENT) {
		printf("none\n");
		return 2;
	}
	if (ret < 0) {
		fprintf(stderr, "neigh_probe: %s\n", strerror(-ret));
		return 1;
	}
	printf("%02x:%02x:%02x:%02x:%02x:%02x\n", mac[0], mac[1], mac[2],
	       mac[3], mac[4], mac[5]);
	return 0;
}
