/* SPDX-License-Identifier: MIT */
/*
 * The daemon's log, after OpenBSD's log.c (OpenSMTPD, relayd...): to
 * stderr when running in the foreground (-d), to syslog otherwise.
 * log_warn() appends strerror(errno); log_warnx() does not. fatal() and
 * fatalx() log and exit(1). log_debug() prints only once log_setverbose()
 * asked for it (-v). Every function keeps errno as it found it.
 */
#ifndef XL_DAEMON_LOG_H
#define XL_DAEMON_LOG_H

#include <stdarg.h>

/* debug: nonzero to log to stderr; facility: syslog's (LOG_DAEMON). */
void log_init(int debug, int facility);
/* 0: info and above; 1 or more: debug messages too. */
void log_setverbose(int v);
int log_getverbose(void);
/* The name messages go out under (syslog ident, stderr prefix). */
void log_procinit(const char *procname);

void log_warn(const char *emsg, ...)
	__attribute__((format(printf, 1, 2)));
void log_warnx(const char *emsg, ...)
	__attribute__((format(printf, 1, 2)));
void log_info(const char *emsg, ...)
	__attribute__((format(printf, 1, 2)));
void log_debug(const char *emsg, ...)
	__attribute__((format(printf, 1, 2)));
void vlog(int pri, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
void fatal(const char *emsg, ...)
	__attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *emsg, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#endif /* XL_DAEMON_LOG_H */
