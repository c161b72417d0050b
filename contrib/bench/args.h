/*
 * args - the number parsers of the benchmark tools' command lines (seconds with decimals,
 * bounded decimal counts), shared so that every tool reads its options alike.
 *
 * Memory: nothing is allocated; results go to the caller's variables.
 */
#ifndef BENCH_ARGS_H
#define BENCH_ARGS_H

#include <stdint.h>

/* args_parse_ms - seconds (decimals allowed, 0 to 1e7) into milliseconds; 0 on success, -1 on error */
int args_parse_ms(const char *text, uint64_t *ms);

/* args_parse_num - a decimal number from min to max; 0 on success, -1 on error */
int args_parse_num(const char *text, uint64_t min, uint64_t max, uint64_t *value);

#endif
