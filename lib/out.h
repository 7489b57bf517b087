/*
 * Formatting without malloc or stdio: text, hexadecimal and decimal
 * numbers collected in a buffer on the caller's stack, written with
 * write(2).  The fatal messages (fatal.c) and the heap reports
 * (introspect.c) run with heap locks held, and may run as the process's
 * malloc, so they can use neither.  Static inline: each of the two gets
 * its own copy, as when these were static in one file, and no internal
 * symbol is added.
 */
#ifndef LIBMM_OUT_H
#define LIBMM_OUT_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

struct out {
	int fd;
	size_t len;
	char buf[1024];
};

static inline void out_flush(struct out *o)
{
	size_t done = 0;

	while (done < o->len) {
		ssize_t n = write(o->fd, o->buf + done, o->len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		done += (size_t)n;
	}
	o->len = 0;
}

static inline void out_char(struct out *o, char c)
{
	if (o->len == sizeof o->buf)
		out_flush(o);
	o->buf[o->len++] = c;
}

static inline void out_str(struct out *o, const char *s)
{
	while (*s)
		out_char(o, *s++);
}

static inline void out_hex(struct out *o, uintptr_t v)
{
	char tmp[2 * sizeof v];
	int n = 0;

	out_str(o, "0x");
	do {
		tmp[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	while (n)
		out_char(o, tmp[--n]);
}

static inline void out_dec(struct out *o, size_t v)
{
	char tmp[24];
	int n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		out_char(o, tmp[--n]);
}

#endif
