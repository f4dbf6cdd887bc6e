/* SPDX-License-Identifier: MIT */
/*
 * xenloopd's configuration file (xenloop.conf(5)): "key = value" lines,
 * "#" comments. Anything it does not understand is an error that names
 * the file and line: a daemon that silently ignored a typo would run with
 * settings nobody asked for.
 *
 * Returns 0 or -errno; never writes errno.
 */
#ifndef XL_CONF_H
#define XL_CONF_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XL_NAME_MAX		64	/* a daemon's name, without NUL */
#define XL_RING_ORDER_MIN	12	/* 4 KiB per direction */
#define XL_RING_ORDER_MAX	24	/* 16 MiB per direction */
#define XL_RING_ORDER_DEFAULT	18	/* 256 KiB per direction */
#define XL_TIMEOUT_MS_MIN	100u
#define XL_TIMEOUT_MS_MAX	600000u
#define XL_TIMEOUT_MS_DEFAULT	5000u

struct xl_conf {
	char rundir[PATH_MAX];
	char name[XL_NAME_MAX + 1];	/* "": ns-<netns inode> */
	uint32_t ring_order;
	uint32_t match_timeout_ms;
	bool enable;
	bool routed;			/* --discovery: pair routed guests */
	bool xen_kmod;			/* --xen: /dev/xenloop when there */
};

void xl_conf_defaults(struct xl_conf *c);

/*
 * Read path into c (keys not in the file keep their value). A missing
 * file is -ENOENT, which the caller may accept for the default path.
 * Other errors (-EINVAL and I/O) leave a one-line message in err:
 * "path:line: what is wrong".
 */
int xl_conf_load(struct xl_conf *c, const char *path, char *err,
		 size_t errlen);

/* A name usable as a file name in RUNDIR/peers: 1..64 of [A-Za-z0-9._-],
 * not starting with a dot. */
bool xl_conf_name_valid(const char *name);

/* An absolute directory path that fits (with file names) in a socket
 * address. */
bool xl_conf_rundir_valid(const char *dir);

#endif /* XL_CONF_H */
