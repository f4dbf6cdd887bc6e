/* SPDX-License-Identifier: MIT */
/*
 * The daemon's log (see log.h). Modelled on OpenBSD's log.c: one vlog()
 * that either prints to stderr or hands the message to syslog, and thin
 * wrappers that add strerror() or exit.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_debug_mode = 1;
static int log_verbose;
static const char *log_procname = "xenloopd";

void log_init(int debug, int facility)
{
	int saved = errno;

	log_debug_mode = debug;
	if (!debug)
		openlog(log_procname, LOG_PID | LOG_NDELAY, facility);
	tzset();
	errno = saved;
}

void log_setverbose(int v)
{
	log_verbose = v;
}

int log_getverbose(void)
{
	return log_verbose;
}

void log_procinit(const char *procname)
{
	if (procname)
		log_procname = procname;
}

void vlog(int pri, const char *fmt, va_list ap)
{
	int saved = errno;

	if (log_debug_mode) {
		fprintf(stderr, "%s[%d]: ", log_procname, (int)getpid());
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		fflush(stderr);
	} else {
		vsyslog(pri, fmt, ap);
	}
	errno = saved;
}

static void logit(int pri, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void logit(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

/* emsg formatted, then ": strerror(err)" */
static void vlog_errno(int pri, int err, const char *emsg, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog_errno(int pri, int err, const char *emsg, va_list ap)
{
	char buf[1024];

	vsnprintf(buf, sizeof(buf), emsg, ap);
	logit(pri, "%s: %s", buf, strerror(err));
	errno = err;
}

void log_warn(const char *emsg, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, emsg);
	vlog_errno(LOG_ERR, saved, emsg, ap);
	va_end(ap);
}

void log_warnx(const char *emsg, ...)
{
	va_list ap;

	va_start(ap, emsg);
	vlog(LOG_ERR, emsg, ap);
	va_end(ap);
}

void log_info(const char *emsg, ...)
{
	va_list ap;

	va_start(ap, emsg);
	vlog(LOG_INFO, emsg, ap);
	va_end(ap);
}

void log_debug(const char *emsg, ...)
{
	va_list ap;

	if (log_verbose < 1)
		return;
	va_start(ap, emsg);
	vlog(LOG_DEBUG, emsg, ap);
	va_end(ap);
}

void fatal(const char *emsg, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, emsg);
	vlog_errno(LOG_CRIT, saved, emsg, ap);
	va_end(ap);
	exit(1);
}

void fatalx(const char *emsg, ...)
{
	va_list ap;

	va_start(ap, emsg);
	vlog(LOG_CRIT, emsg, ap);
	va_end(ap);
	exit(1);
}
