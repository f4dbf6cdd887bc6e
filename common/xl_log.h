/* SPDX-License-Identifier: MIT */
/*
 * Logging for code that runs inside other people's processes (the preload
 * library): off unless XENLOOP_LOG_LEVEL asks for it, never to the
 * application's stdout, and errno is the same after a log call as before.
 *
 * Messages look like "xenloop[pid]: msg (in func() at file:line)". The
 * level is checked before anything is formatted, so a disabled message
 * costs one load and one compare.
 */
#ifndef XL_LOG_H
#define XL_LOG_H

enum xl_log_level {
	XL_LOG_NONE = 0,
	XL_LOG_ERR,
	XL_LOG_WARN,
	XL_LOG_INFO,
	XL_LOG_DBG,
};

extern int xl_log_level;

/*
 * Send messages of at most level to path (appended; NULL or "": stderr).
 * Returns 0 or -errno (the file could not be opened: stderr is used).
 * The descriptor is opened O_CLOEXEC and never 0 or 1.
 */
int xl_log_init(int level, const char *path);

/* The log file's descriptor, or -1 (for callers that guard their fds). */
int xl_log_fd(void);

/* Forget the descriptor without closing it (a forked child keeps it). */
void xl_log_set_fd(int fd);

void xl_log_write(int level, const char *func, const char *file, int line,
		  const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define XL_LOG(lvl, ...)						\
	do {								\
		if (__builtin_expect(xl_log_level >= (lvl), 0))		\
			xl_log_write((lvl), __func__, __FILE__, __LINE__, \
				     __VA_ARGS__);			\
	} while (0)

#define XL_ERR(...)	XL_LOG(XL_LOG_ERR, __VA_ARGS__)
#define XL_WARN(...)	XL_LOG(XL_LOG_WARN, __VA_ARGS__)
#define XL_INFO(...)	XL_LOG(XL_LOG_INFO, __VA_ARGS__)
#define XL_DBG(...)	XL_LOG(XL_LOG_DBG, __VA_ARGS__)

#endif /* XL_LOG_H */
