/* osh_sockcheck.h - is a Unix socket path safe to connect to? Used before
 * the gateway trusts a driver socket (remote-uds) and by the tools. */
#ifndef OSH_SOCKCHECK_H
#define OSH_SOCKCHECK_H

#include <stddef.h>

/*
 * Check path before connecting to it. Rules: the path is absolute and fits in
 * sockaddr_un; no component of it (the socket itself or any parent directory)
 * is a symbolic link; it exists and is a Unix socket; it is not group- or
 * world-writable; it is owned by the effective uid or by root.
 *
 * Returns 0 when safe. Otherwise returns -1, writes a whole sentence naming
 * the path into err (when err and errlen are non-zero; always NUL-terminated)
 * and sets errno: ENOENT when the socket or a directory on its path does not
 * exist (a driver that is not running yet), another value when the path is
 * unsafe or unusable (EINVAL, ENAMETOOLONG, ELOOP, ENOTSOCK, EPERM, or the
 * errno of a failed lstat).
 *
 * Thread-safe. Only lstat()s; it never follows a link or opens anything.
 */
int osh_sockcheck(const char *path, char *err, size_t errlen);

#endif
