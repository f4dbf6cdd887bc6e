/* SPDX-License-Identifier: MIT */
/*
 * libxenloop.so: moves the TCP connections of a program onto shared-memory
 * rings when the peer is co-resident and runs the library too.
 *
 * How this works
 *
 * The library is loaded with LD_PRELOAD and defines the socket calls a
 * program makes (one file per family: xl_connect.c, xl_accept.c, xl_io.c,
 * xl_close.c, xl_poll.c, xl_epoll.c, xl_fcntl.c, xl_sendfile.c). Each hook
 * first looks the fd up in the fd table (xl_fdtable.c, no lock); an fd
 * that is not a tracked socket goes straight to the next definition of
 * the call, found with dlsym(RTLD_NEXT) so that other preloaded libraries
 * still see it. A tracked socket is one connect() or accept() returned,
 * registered with the namespace's xenloopd (xl_daemon_link.c); when the
 * daemon pairs it with the other end's registration, both get a channel,
 * and the data path (xl_stream.c) moves each direction onto it at an exact
 * byte offset.
 *
 * This file resolves the real calls (once, through pthread_once, from the
 * constructor and lazily from any hook that runs before it), reads the
 * configuration, and installs the fork handlers.
 */
#include "config.h"

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xl_epoll.h"
#include "xl_fdtable.h"
#include "xl_preload.h"
#include "xl_sock.h"

struct xl_socket_calls real;
struct xl_config xl_cfg;
XL_TLS int xl_in_lib;

static pthread_once_t xl_once = PTHREAD_ONCE_INIT;

#define XL_SYM(field, name) { (void **)&real.field, name }

static const struct {
	void **slot;
	const char *name;
} xl_syms[] = {
	XL_SYM(socket, "socket"), XL_SYM(connect, "connect"),
	XL_SYM(accept, "accept"), XL_SYM(accept4, "accept4"),
	XL_SYM(read, "read"), XL_SYM(write, "write"),
	XL_SYM(readv, "readv"), XL_SYM(writev, "writev"),
	XL_SYM(recv, "recv"), XL_SYM(recvfrom, "recvfrom"),
	XL_SYM(recvmsg, "recvmsg"), XL_SYM(recvmmsg, "recvmmsg"),
	XL_SYM(send, "send"), XL_SYM(sendto, "sendto"),
	XL_SYM(sendmsg, "sendmsg"), XL_SYM(sendmmsg, "sendmmsg"),
	XL_SYM(read_chk, "__read_chk"), XL_SYM(recv_chk, "__recv_chk"),
	XL_SYM(recvfrom_chk, "__recvfrom_chk"),
	XL_SYM(close, "close"), XL_SYM(shutdown, "shutdown"),
	XL_SYM(dup, "dup"), XL_SYM(dup2, "dup2"), XL_SYM(dup3, "dup3"),
	XL_SYM(close_range, "close_range"),
	XL_SYM(fcntl, "fcntl"), XL_SYM(fcntl64, "fcntl64"),
	XL_SYM(ioctl, "ioctl"),
	XL_SYM(getsockopt, "getsockopt"), XL_SYM(setsockopt, "setsockopt"),
	XL_SYM(poll, "poll"), XL_SYM(ppoll, "ppoll"),
	XL_SYM(select, "select"), XL_SYM(pselect, "pselect"),
	XL_SYM(epoll_create, "epoll_create"),
	XL_SYM(epoll_create1, "epoll_create1"),
	XL_SYM(epoll_ctl, "epoll_ctl"), XL_SYM(epoll_wait, "epoll_wait"),
	XL_SYM(epoll_pwait, "epoll_pwait"),
	XL_SYM(epoll_pwait2, "epoll_pwait2"),
	XL_SYM(sendfile, "sendfile"), XL_SYM(sendfile64, "sendfile64"),
	XL_SYM(splice, "splice"),
	XL_SYM(sigaction, "sigaction"),
	XL_SYM(execve, "execve"), XL_SYM(execv, "execv"),
	XL_SYM(execvp, "execvp"), XL_SYM(execvpe, "execvpe"),
	XL_SYM(fexecve, "fexecve"), XL_SYM(execveat, "execveat"),
	XL_SYM(prlimit, "prlimit"),
};

/* Symbols an older libc may lack; everything else must resolve. */
static bool xl_sym_optional(const char *name)
{
	return !strcmp(name, "epoll_pwait2") || !strcmp(name, "fcntl64") ||
	       !strcmp(name, "close_range") || !strcmp(name, "execveat");
}

static void xl_die(const char *what, const char *name)
{
	char buf[160];
	int n = snprintf(buf, sizeof(buf), "xenloop: %s: %s\n", what, name);

	if (n > 0 && write(2, buf, (size_t)n) < 0)
		(void)0;
	abort();
}

static void xl_resolve(void)
{
	Dl_info self, found;
	size_t i;
	void *p;

	/* any address of ours names our object */
	if (!dladdr((void *)xl_resolve, &self))
		self.dli_fbase = NULL;
	for (i = 0; i < sizeof(xl_syms) / sizeof(xl_syms[0]); i++) {
		p = dlsym(RTLD_NEXT, xl_syms[i].name);
		if (!p) {
			if (!xl_sym_optional(xl_syms[i].name))
				xl_die("cannot find the real call",
				       xl_syms[i].name);
			continue;
		}
		/* calling ourselves would recurse until the stack ends */
		if (self.dli_fbase && dladdr(p, &found) &&
		    found.dli_fbase == self.dli_fbase)
			xl_die("the real call resolves to our own hook",
			       xl_syms[i].name);
		*xl_syms[i].slot = p;
	}
}

static void xl_atfork_prepare(void)
{
	xl_link_atfork_prepare();
	xl_sock_atfork_prepare();
	xl_rlimit_atfork_prepare();
	xl_fd_lock();
}

static void xl_atfork_parent(void)
{
	xl_fd_unlock();
	xl_rlimit_atfork_parent();
	xl_sock_atfork_parent();
	xl_link_atfork_parent();
}

static void xl_atfork_child(void)
{
	xl_fd_reinit();
	xl_rlimit_atfork_child();
	xl_sock_atfork_child();
	xl_link_atfork_child();
	xl_epoll_atfork_child();
}

static void xl_init_once(void)
{
	xl_in_lib++;
	xl_resolve();
	xl_env_load(&xl_cfg);
	if (xl_log_fd() >= 0)
		xl_fd_internal_add(xl_log_fd());
	xl_fd_keeper = &xl_chan_fd_keeper;
	if (xl_cfg.disabled)
		XL_INFO("disabled by configuration: every call goes to libc");
	else
		pthread_atfork(xl_atfork_prepare, xl_atfork_parent,
			       xl_atfork_child);
	xl_in_lib--;
}

void xl_init(void)
{
	/* our own calls during initialisation: the real table is filled
	 * before anything in it can call a hook */
	if (xl_in_lib)
		return;
	pthread_once(&xl_once, xl_init_once);
}

__attribute__((constructor)) static void xl_constructor(void)
{
	xl_init();
}

/* A program may end without closing its sockets (exit() with them open):
 * the daemon must still learn the final counts, and the peer the reset
 * that unread bytes cause. */
__attribute__((destructor)) static void xl_destructor(void)
{
	if (xl_in_lib || xl_cfg.disabled)
		return;
	xl_lib_enter();
	xl_sock_exit_unread();
	xl_sock_exit_counts();
	xl_lib_leave();
}

uint64_t xl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void xl_raise_sigpipe(void)
{
	pthread_kill(pthread_self(), SIGPIPE);
}
