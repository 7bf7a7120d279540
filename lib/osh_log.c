/* osh_log.c - stderr logging with level filter, one write(2) per line. */
#include "config.h"

#include "osh_log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int osh_log_level = OSH_LOG_INFO;

void osh_log_set_level(int level)
{
	atomic_store(&osh_log_level, level);
}

int osh_log_get_level(void)
{
	return atomic_load(&osh_log_level);
}

int osh_log_parse_level(const char *s)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{"error", OSH_LOG_ERROR}, {"warn", OSH_LOG_WARN},   {"warning", OSH_LOG_WARN},
		{"info", OSH_LOG_INFO},   {"debug", OSH_LOG_DEBUG}, {"trace", OSH_LOG_DEBUG},
	};
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].level;
	return -1;
}

const char *osh_log_level_name(int level)
{
	switch (level) {
	case OSH_LOG_ERROR: return "ERROR";
	case OSH_LOG_WARN: return "WARN";
	case OSH_LOG_INFO: return "INFO";
	default: return "DEBUG";
	}
}

void osh_logv(int level, const char *fmt, va_list ap)
{
	if (level > atomic_load(&osh_log_level))
		return;
	char line[4096];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %-5s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (int)(tv.tv_usec / 1000), osh_log_level_name(level));
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
}

void osh_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	osh_logv(level, fmt, ap);
	va_end(ap);
}
