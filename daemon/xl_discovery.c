/* SPDX-License-Identifier: MIT */
/*
 * Our own addresses and the .addrs files of RUNDIR/peers (see
 * xl_discovery.h).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "xl_addr.h"
#include "xl_conf.h"
#include "xl_discovery.h"

#define XL_ADDRS_SUFFIX		".addrs"
#define XL_ADDRS_FILE_MAX	(XL_ADDRS_MAX * 48)

bool xl_addrset_has(const struct xl_addrset *set,
		    const struct xl_ctl_addr *a)
{
	uint32_t i;

	for (i = 0; i < set->n; i++)
		if (xl_addr_same_ip(&set->a[i], a))
			return true;
	return false;
}

bool xl_addrset_equal(const struct xl_addrset *x, const struct xl_addrset *y)
{
	uint32_t i;

	if (x->n != y->n)
		return false;
	for (i = 0; i < x->n; i++)
		if (!xl_addr_same_ip(&x->a[i], &y->a[i]))
			return false;
	return true;
}

static int xl_addr_cmp(const void *pa, const void *pb)
{
	const struct xl_ctl_addr *a = pa, *b = pb;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	return memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* Add a unless it is there or the set is full. */
static void xl_addrset_add(struct xl_addrset *set, const struct xl_ctl_addr *a)
{
	if (set->n < XL_ADDRS_MAX && !xl_addrset_has(set, a))
		set->a[set->n++] = *a;
}

int xl_disc_own_addrs(struct xl_addrset *set)
{
	struct ifaddrs *ifa, *i;
	struct xl_ctl_addr a;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	set->n = 0;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr ||
		    xl_addr_from_sockaddr(&a, i->ifa_addr) < 0)
			continue;
		a.port = 0;
		xl_addrset_add(set, &a);
	}
	freeifaddrs(ifa);
	qsort(set->a, set->n, sizeof(set->a[0]), xl_addr_cmp);
	return 0;
}

static int xl_write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The text of an .addrs file: one address per line, loopback left out. */
static size_t xl_addrs_text(const struct xl_addrset *set, char *buf,
			    size_t len)
{
	char ip[XL_ADDR_STRLEN];
	size_t off = 0;
	uint32_t i;

	for (i = 0; i < set->n; i++) {
		if (xl_addr_is_loopback(&set->a[i]) ||
		    xl_addr_format(&set->a[i], false, ip, sizeof(ip)) < 0)
			continue;
		if (off + strlen(ip) + 2 > len)
			break;
		off += (size_t)snprintf(buf + off, len - off, "%s\n", ip);
	}
	return off;
}

int xl_disc_write_addrs(const char *path, const struct xl_addrset *set)
{
	char tmp[PATH_MAX], buf[XL_ADDRS_FILE_MAX];
	size_t len = xl_addrs_text(set, buf, sizeof(buf));
	int fd, ret;

	if (xl_pathf(tmp, sizeof(tmp), "%s.tmp", path) < 0)
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0)
		return -errno;
	ret = xl_write_all(fd, buf, len);
	if (ret == 0 && fchmod(fd, 0644) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0)
		unlink(tmp);
	return ret;
}

static int xl_read_small(const char *path, char *buf, size_t len)
{
	ssize_t n;
	size_t off = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	while (off + 1 < len) {
		n = read(fd, buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return 0;
}

int xl_disc_read_addrs(const char *path, struct xl_addrset *set)
{
	char buf[XL_ADDRS_FILE_MAX], *line, *save = NULL;
	struct xl_ctl_addr a;
	int ret;

	ret = xl_read_small(path, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	set->n = 0;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		/* a peer cannot make us treat our own loopback as remote */
		if (xl_addr_parse(line, &a) == 0 && !xl_addr_is_loopback(&a) &&
		    !xl_addr_is_bogus(&a))
			xl_addrset_add(set, &a);
	}
	return 0;
}

/* "<name>.addrs" -> name, or false. */
static bool xl_disc_entry_name(const char *file, char *name, size_t len)
{
	size_t n = strlen(file), s = strlen(XL_ADDRS_SUFFIX);

	if (n <= s || n - s >= len || strcmp(file + n - s, XL_ADDRS_SUFFIX))
		return false;
	memcpy(name, file, n - s);
	name[n - s] = '\0';
	return xl_conf_name_valid(name);
}

int xl_disc_scan(const char *dir, const char *own,
		 int (*fn)(const char *name, void *arg), void *arg)
{
	char name[XL_NAME_MAX + 1];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	d = opendir(dir);
	if (!d)
		return -errno;
	while (ret >= 0 && (de = readdir(d))) {
		if (!xl_disc_entry_name(de->d_name, name, sizeof(name)) ||
		    !strcmp(name, own))
			continue;
		ret = fn(name, arg);
	}
	closedir(d);
	return ret < 0 ? ret : 0;
}

int xl_disc_connect(const char *path, int *fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int s, ret;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		ret = -errno;
		close(s);
		return ret;
	}
	*fd = s;
	return 0;
}

int xl_pathf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
