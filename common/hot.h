/*
 * hot - HOT marks a function that every request runs through (parse, keys, cache,
 * decision, reply, log line, the connection's read and write); OUT_OF_LINE keeps a
 * helper out of such a function.
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

/*
 * OUT_OF_LINE marks a helper that a hot function calls only on some of its paths. Kept out
 * of its caller, it leaves the caller's common path without the stack frame and the saved
 * registers that the helper's own work needs, which the caller would otherwise pay on
 * every call. A tail call to it costs a jump.
 */
#if defined(__GNUC__)
#define OUT_OF_LINE __attribute__((noinline))
#else
#define OUT_OF_LINE
#endif

#endif
