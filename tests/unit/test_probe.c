/* test_probe.c - the docker/podman auto-detect probe (GET /_ping on a Unix
 * socket) against canned answers from a local socket server. */
#include "config.h"

#include "drivers.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct canned {
	int fd;
	const char *answer; /* NULL: accept and say nothing */
	char request[512];
};

static void *serve_once(void *arg)
{
	struct canned *c = arg;
	int conn = accept(c->fd, NULL, NULL);
	if (conn < 0)
		return NULL;
	ssize_t n = recv(conn, c->request, sizeof(c->request) - 1, 0);
	if (n > 0)
		c->request[n] = '\0';
	if (c->answer)
		(void)!write(conn, c->answer, strlen(c->answer));
	else
		usleep(1500 * 1000);
	close(conn);
	return NULL;
}

static int probe(const char *answer, const char *kind, char *request_out)
{
	char dir[] = "/tmp/osh-probe-XXXXXX";
	cr_assert_not_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/engine.sock", dir);
	struct canned c = {.answer = answer};
	c.fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(listen(c.fd, 1), 0);
	pthread_t t;
	pthread_create(&t, NULL, serve_once, &c);
	int r = osh_probe_ping(path, kind);
	pthread_join(t, NULL);
	if (request_out)
		strcpy(request_out, c.request);
	close(c.fd);
	unlink(path);
	rmdir(dir);
	return r;
}

#define DOCKER "HTTP/1.1 200 OK\r\nApi-Version: 1.47\r\nContent-Length: 2\r\n\r\nOK"
#define PODMAN "HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nLibpod-Api-Version: 5.0.0\r\n\r\nOK"

Test(probe, docker_engine_is_docker_not_podman)
{
	char req[512];
	cr_assert_eq(probe(DOCKER, "docker", req), 1);
	cr_assert(strncmp(req, "GET /_ping HTTP/1.1\r\nHost: localhost\r\n", 38) == 0, "%s", req);
	cr_assert_eq(probe(DOCKER, "podman", NULL), 0);
}

Test(probe, podman_service_is_podman_not_docker)
{
	cr_assert_eq(probe(PODMAN, "podman", NULL), 1);
	cr_assert_eq(probe(PODMAN, "docker", NULL), 0);
	cr_assert_eq(probe("HTTP/1.0 200 OK\r\nlibpod-api-version: 4.3\r\n\r\n", "podman", NULL), 1,
		     "header names are case-insensitive, HTTP/1.0 is fine");
}

Test(probe, other_answers_are_not_engines)
{
	cr_assert_eq(probe("HTTP/1.1 500 Internal Server Error\r\nApi-Version: 1\r\n\r\n", "docker",
			   NULL),
		     0);
	cr_assert_eq(probe("SSH-2.0-OpenSSH_9.2\r\n", "docker", NULL), 0);
	cr_assert_eq(probe("HTTP/1.1 200 OK\r\n\r\nApi-Version: in the body\r\n", "docker", NULL), 0,
		     "a header name in the body does not count");
	cr_assert_eq(probe(NULL, "docker", NULL), 0, "silence times out after 1 s");
}

Test(probe, missing_or_non_socket_paths)
{
	cr_assert_eq(osh_probe_ping("/nonexistent/docker.sock", "docker"), 0);
	cr_assert_eq(osh_probe_ping("/etc/hostname", "docker"), 0);
	cr_assert_eq(osh_probe_ping(NULL, "docker"), 0);
}
