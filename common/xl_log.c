/* SPDX-License-Identifier: MIT */
/*
 * The log sink of the preload library: one line per message, written with
 * a single write() so that lines from several threads or processes do not
 * interleave, and errno saved around everything.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "xl_log.h"

#define XL_LOG_LINE_MAX	512

int xl_log_level = XL_LOG_NONE;
static int xl_log_out = 2;

static const char *xl_log_basename(const char *file)
{
	const char *slash = strrchr(file, '/');

	return slash ? slash + 1 : file;
}

/* Move fd above the standard descriptors so that a program that closes
 * and reopens 0..2 never writes into our log or we into its output. */
static int xl_log_high_fd(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

int xl_log_init(int level, const char *path)
{
	int saved = errno, fd, ret = 0;

	xl_log_level = level;
	xl_log_out = 2;
	if (level > XL_LOG_NONE && path && *path) {
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			fd = xl_log_high_fd(fd);
		if (fd >= 0)
			xl_log_out = fd;
		else
			ret = -errno;
	}
	errno = saved;
	return ret;
}

int xl_log_fd(void)
{
	return xl_log_out > 2 ? xl_log_out : -1;
}

void xl_log_set_fd(int fd)
{
	xl_log_out = fd;
}

void xl_log_write(int level, const char *func, const char *file, int line,
		  const char *fmt, ...)
{
	char buf[XL_LOG_LINE_MAX];
	int saved = errno, n, m;
	va_list ap;

	if (level > xl_log_level)
		return;
	n = snprintf(buf, sizeof(buf), "xenloop[%d]: ", (int)getpid());
	va_start(ap, fmt);
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (m > 0)
		n += m;
	if (n >= (int)sizeof(buf))
		n = (int)sizeof(buf) - 1;
	m = snprintf(buf + n, sizeof(buf) - (size_t)n, " (in %s() at %s:%d)\n",
		     func, xl_log_basename(file), line);
	n += m;
	if (n >= (int)sizeof(buf)) {
		n = (int)sizeof(buf);
		buf[n - 1] = '\n';
	}
	if (write(xl_log_out, buf, (size_t)n) < 0)
		(void)0;	/* nowhere left to report it */
	errno = saved;
}
