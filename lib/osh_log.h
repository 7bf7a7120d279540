/* osh_log.h - one logging sink for the gateway, its plugins' host services and
 * the tools: "2026-11-29T16:00:00.123Z INFO  message" lines on stderr. */
#ifndef OSH_LOG_H
#define OSH_LOG_H

#include <stdarg.h>

/* Same numbers as OPENSHELL_LOG_* in openshell/driver.h. */
enum { OSH_LOG_ERROR = 0, OSH_LOG_WARN = 1, OSH_LOG_INFO = 2, OSH_LOG_DEBUG = 3 };

/* Thread-safe. Lines above the current level are dropped (default INFO). */
void osh_log_set_level(int level);
int osh_log_get_level(void);
/* "error", "warn", "info", "debug" (also "warning", "trace"=debug); -1 if unknown. */
int osh_log_parse_level(const char *s);
const char *osh_log_level_name(int level);

void osh_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void osh_logv(int level, const char *fmt, va_list ap);

#define osh_error(...) osh_log(OSH_LOG_ERROR, __VA_ARGS__)
#define osh_warn(...) osh_log(OSH_LOG_WARN, __VA_ARGS__)
#define osh_info(...) osh_log(OSH_LOG_INFO, __VA_ARGS__)
#define osh_debug(...) osh_log(OSH_LOG_DEBUG, __VA_ARGS__)

#endif
