/* test_sockcheck.c - osh_sockcheck accepts a private socket and refuses, with
 * a sentence naming the path, everything that is not one. */
#include "config.h"

#include "osh_sockcheck.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static char dir[64];
static char sock[128];
static int sock_fd = -1;

static void make_socket(const char *path)
{
	struct sockaddr_un sa;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	sock_fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert(sock_fd >= 0);
	cr_assert(bind(sock_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s: %s", path,
		  strerror(errno));
	cr_assert(chmod(path, 0600) == 0);
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/osh-sockcheck-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/good.sock", dir);
	make_socket(sock);
}

static void teardown(void)
{
	char cmd[128];
	if (sock_fd >= 0)
		close(sock_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert(system(cmd) == 0);
}

TestSuite(sockcheck, .init = setup, .fini = teardown);

/* Refused, with errno e (0: any) and a message naming path. */
static void expect_refused(const char *path, int e, const char *words)
{
	char err[512];
	errno = 0;
	cr_assert_eq(osh_sockcheck(path, err, sizeof(err)), -1, "%s was accepted", path);
	if (e)
		cr_expect_eq(errno, e, "errno %d, want %d (%s)", errno, e, err);
	cr_expect(strstr(err, path) != NULL, "message does not name the path: %s", err);
	cr_expect(strstr(err, words) != NULL, "message lacks \"%s\": %s", words, err);
}

Test(sockcheck, good_socket_passes)
{
	char err[256] = "x";
	cr_assert_eq(osh_sockcheck(sock, err, sizeof(err)), 0, "%s", err);
	cr_expect_str_empty(err);
}

Test(sockcheck, symlink_refused)
{
	char link[160];
	snprintf(link, sizeof(link), "%s/link.sock", dir);
	cr_assert(symlink(sock, link) == 0);
	expect_refused(link, ELOOP, "is a symbolic link; refusing to follow it");
}

Test(sockcheck, symlinked_parent_refused)
{
	char real[160], alias[160], path[200];
	snprintf(real, sizeof(real), "%s/real", dir);
	snprintf(alias, sizeof(alias), "%s/alias", dir);
	cr_assert(mkdir(real, 0700) == 0);
	cr_assert(symlink(real, alias) == 0);
	snprintf(path, sizeof(path), "%s/in.sock", real);
	close(sock_fd);
	make_socket(path);
	char err[256];
	cr_assert_eq(osh_sockcheck(path, err, sizeof(err)), 0, "%s", err);
	snprintf(path, sizeof(path), "%s/in.sock", alias);
	expect_refused(path, ELOOP, "is a symbolic link");
	osh_sockcheck(path, err, sizeof(err));
	char want[400];
	snprintf(want, sizeof(want), "directory \"%s\" of socket \"%s\"", alias, path);
	cr_expect(strstr(err, want) != NULL, "%s", err);
}

Test(sockcheck, world_writable_refused)
{
	cr_assert(chmod(sock, 0666) == 0);
	expect_refused(sock, EPERM, "group- or world-writable (mode 0666)");
	cr_assert(chmod(sock, 0620) == 0);
	expect_refused(sock, EPERM, "group- or world-writable");
}

Test(sockcheck, foreign_owner_refused)
{
	if (geteuid() != 0)
		cr_skip_test("needs root to chown");
	cr_assert(chown(sock, 65534, 65534) == 0);
	expect_refused(sock, EPERM, "owned by uid 65534");
}

Test(sockcheck, regular_file_refused)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/file.sock", dir);
	int fd = open(path, O_CREAT | O_WRONLY, 0600);
	cr_assert(fd >= 0);
	close(fd);
	expect_refused(path, ENOTSOCK, "is a regular file, not a Unix socket");
}

Test(sockcheck, directory_refused)
{
	expect_refused(dir, ENOTSOCK, "is a directory, not a Unix socket");
}

Test(sockcheck, relative_path_refused)
{
	expect_refused("run/driver.sock", EINVAL, "is not an absolute path");
}

Test(sockcheck, missing_refused)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/missing.sock", dir);
	expect_refused(path, ENOENT, "does not exist");
	snprintf(path, sizeof(path), "%s/nodir/missing.sock", dir);
	expect_refused(path, ENOENT, "does not exist");
}

Test(sockcheck, odd_paths_refused)
{
	char err[64];
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	expect_refused(longp, ENAMETOOLONG, "too long");
	char slash[160];
	snprintf(slash, sizeof(slash), "%s/", sock);
	expect_refused(slash, EINVAL, "ends with");
	cr_expect_eq(osh_sockcheck("", err, sizeof(err)), -1);
	cr_expect_eq(osh_sockcheck(NULL, err, sizeof(err)), -1);
	cr_expect_eq(osh_sockcheck("relative", NULL, 0), -1); /* no buffer is fine */
	char tiny[8];
	cr_expect_eq(osh_sockcheck("relative", tiny, sizeof(tiny)), -1);
	cr_expect_eq(strlen(tiny), sizeof(tiny) - 1); /* truncated, terminated */
}
