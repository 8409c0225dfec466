/* The daemon's log lines (core/log.h writes them to stderr), captured for
 * assertions in component tests: what a bash test greps in daemon.log.
 *
 *     log_capture__start();
 *     ... the component logs ...
 *     assert_int_equal(log_capture__count("user not found in Voice"), 1);
 *     log_capture__stop(); // the captured lines go on to stderr
 *
 * Start in a test's setup and stop in its teardown: a failed assertion
 * still shows the log (cmocka runs the teardown). */
#ifndef PS_TESTS_LOG_CAPTURE_H
#define PS_TESTS_LOG_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

/* Sends stderr to a temporary file from now on. 0 or -1. */
int log_capture__start(void);
/* Lines captured so far that contain every one of the NULL-terminated
 * substrings, in that order. */
size_t log_capture__count_all(const char *first, ...);
#define log_capture__count(...) log_capture__count_all(__VA_ARGS__, (const char *)NULL)
/* Whether text occurs anywhere in the captured log. */
bool log_capture__has(const char *text);
/* Restores stderr and copies the captured lines to it. */
void log_capture__stop(void);

#endif
