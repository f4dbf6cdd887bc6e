/* SPDX-License-Identifier: MIT */
/*
 * The process's connection to the xenloopd of its network namespace
 * (docs/protocol.md §2, §6): opened lazily at the first registration,
 * SOCK_SEQPACKET, O_CLOEXEC, never blocking. Incoming CHAN and NOCHAN are
 * processed by whichever hook calls xl_link_poll() first.
 */
#ifndef XL_DAEMON_LINK_H
#define XL_DAEMON_LINK_H

#include <stdbool.h>
#include <stdint.h>

struct xl_sock;

/*
 * Register s (role, local and remote set): gives it a cookie and sends
 * REGISTER. Returns 0, or -errno when there is no daemon to ask (the
 * socket is then left alone).
 */
int xl_link_register(struct xl_sock *s);

/* Tell a daemon that did not register s (it started after s got its
 * channel: its predecessor died) about it, so that it lists, counts and
 * can drop it (protocol.md §5.2). Nothing if this link knows s already.
 * Returns 0 or -errno. */
int xl_link_adopt(struct xl_sock *s);

/* Does the daemon we talk to now have s's registration? A hint. */
bool xl_link_knows(const struct xl_sock *s);

/*
 * s, done with its ring, asks for a new one (protocol.md §5.3): a fresh
 * REGISTER (a new cookie) while s keeps its state and old channel, and
 * the old registration is closed. 0 or -errno (nothing was sent).
 */
int xl_link_reattach(struct xl_sock *s);

/* Claim the channel of s, a socket shared by fork() that this process now
 * holds alone (fd proves it to the daemon). 0: s waits for it (PENDING). */
int xl_link_claim(struct xl_sock *s, int fd);

/*
 * Is there a daemon to register with, or is it time to look for one
 * again? At most two stat()s a second, none while the link is up: a
 * process in a namespace without a daemon tracks no connection and pays
 * nothing for it (a hint; xl_link_register() decides).
 */
bool xl_link_usable(void);

/* Process whatever the daemon sent, without waiting. */
void xl_link_poll(void);

/* The same from a call that does not wait (a send, a receive with data,
 * a look at readiness): at most once per XL_LINK_LOOK_NS in the process,
 * since each look is a system call. */
void xl_link_poll_soon(void);

/* The descriptor to include in a wait for daemon messages, or -1. */
int xl_link_pollfd(void);

/* Forget s's registration (it is being freed). */
void xl_link_unpend(struct xl_sock *s);

/* Send STATS or CLOSE (type) with s's counts and reason. */
void xl_link_counts(struct xl_sock *s, uint32_t type, uint32_t reason);
/* At exit: the final counts sent from now on are kept while the daemon is
 * busy, and xl_link_exit_flush() waits a little for it to take them. */
void xl_link_exit_start(void);
/* The library lets go of the process (xl_letgo.c): the link closes for
 * good (the daemon ends its registrations), every socket still waiting
 * stays on TCP. */
void xl_link_let_go(void);
void xl_link_exit_flush(void);

/* dup2() wants fd, which is the link's: move the link elsewhere. */
bool xl_link_evacuate(int fd);

#endif /* XL_DAEMON_LINK_H */
