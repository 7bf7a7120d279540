/* osh_sockcheck.c - refuse Unix socket paths that are not safe to connect to. */
#include "config.h"

#include "osh_sockcheck.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

__attribute__((format(printf, 4, 5))) static int
osh_sockcheck_fail(int err_no, char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = err_no;
	return -1;
}

static const char *osh_sockcheck_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISCHR(mode))
		return "a character device";
	if (S_ISBLK(mode))
		return "a block device";
	if (S_ISFIFO(mode))
		return "a FIFO";
	return "not a socket";
}

/* Every parent directory of path: exists, is a directory, is not a link. */
static int osh_sockcheck_parents(const char *path, char *err, size_t errlen)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct stat st;

	snprintf(buf, sizeof(buf), "%s", path); /* length checked by the caller */
	for (char *p = strchr(buf + 1, '/'); p; p = strchr(p + 1, '/')) {
		if (p[-1] == '/')
			continue; /* "//" */
		*p = '\0';
		if (lstat(buf, &st) != 0) {
			int e = errno;
			if (e == ENOENT)
				return osh_sockcheck_fail(e, err, errlen,
							  "directory \"%s\" of socket \"%s\" does not exist",
							  buf, path);
			return osh_sockcheck_fail(e, err, errlen,
						  "cannot inspect directory \"%s\" of socket \"%s\": %s",
						  buf, path, strerror(e));
		}
		if (S_ISLNK(st.st_mode))
			return osh_sockcheck_fail(ELOOP, err, errlen,
						  "directory \"%s\" of socket \"%s\" is a symbolic link; "
						  "refusing to follow it (give the real path)",
						  buf, path);
		if (!S_ISDIR(st.st_mode))
			return osh_sockcheck_fail(ENOTDIR, err, errlen,
						  "\"%s\" on the path of socket \"%s\" is not a directory",
						  buf, path);
		*p = '/';
	}
	return 0;
}

int osh_sockcheck(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (err && errlen)
		err[0] = '\0';
	if (!path || !*path)
		return osh_sockcheck_fail(EINVAL, err, errlen, "socket path is empty");
	if (path[0] != '/')
		return osh_sockcheck_fail(EINVAL, err, errlen,
					  "socket \"%s\" is not an absolute path", path);
	if (path[strlen(path) - 1] == '/')
		return osh_sockcheck_fail(EINVAL, err, errlen,
					  "socket \"%s\" ends with \"/\"; give the socket file itself",
					  path);
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return osh_sockcheck_fail(ENAMETOOLONG, err, errlen,
					  "socket \"%s\" is too long for a Unix socket path "
					  "(at most %zu bytes)",
					  path, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	if (osh_sockcheck_parents(path, err, errlen) != 0)
		return -1;

	if (lstat(path, &st) != 0) {
		int e = errno;
		if (e == ENOENT)
			return osh_sockcheck_fail(e, err, errlen, "socket \"%s\" does not exist",
						  path);
		return osh_sockcheck_fail(e, err, errlen, "cannot inspect socket \"%s\": %s",
					  path, strerror(e));
	}
	if (S_ISLNK(st.st_mode))
		return osh_sockcheck_fail(ELOOP, err, errlen,
					  "socket \"%s\" is a symbolic link; refusing to follow it",
					  path);
	if (!S_ISSOCK(st.st_mode))
		return osh_sockcheck_fail(ENOTSOCK, err, errlen,
					  "socket \"%s\" is %s, not a Unix socket", path,
					  osh_sockcheck_kind(st.st_mode));
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return osh_sockcheck_fail(EPERM, err, errlen,
					  "socket \"%s\" is group- or world-writable (mode %04o); "
					  "refusing to connect",
					  path, (unsigned)(st.st_mode & 07777));
	uid_t me = geteuid();
	if (st.st_uid != me && st.st_uid != 0)
		return osh_sockcheck_fail(EPERM, err, errlen,
					  "socket \"%s\" is owned by uid %u, neither this user "
					  "(uid %u) nor root; refusing to connect",
					  path, (unsigned)st.st_uid, (unsigned)me);
	return 0;
}
