/*
 * hot - HOT marks a function that every request runs through (parse, keys, cache,
 * decision, reply, log line, the connection's read and write).
 *
 * GCC puts such functions in .text.hot, one run of pages, so that a request touches a
 * few pages of code instead of some sixteen spread over the binary. That matters where
 * each system call empties the TLB (page-table isolation without PCID, as on the
 * virtual machines policyd was measured on): each page of code a request runs is then a
 * page walk, every request. No memory is owned here.
 */
#ifndef POLICYD_HOT_H
#define POLICYD_HOT_H

#if defined(__GNUC__)
#define HOT __attribute__((hot))
#else
#define HOT
#endif

#endif
