/*
 * failpeer - an LD_PRELOAD shim for the hardening test: getpeername() fails with
 * ENOTCONN, as it does for a TCP peer that reset the connection between the
 * kernel's accept and ours. It lets the test show that such a peer is refused,
 * not served without the [server] allow check. Nothing is allocated.
 */
#include <errno.h>
#include <sys/socket.h>

/* getpeername - always the failure a vanished peer gives (sys/socket.h declares it). */
int getpeername(int fd, struct sockaddr *restrict addr, socklen_t *restrict len)
{
	(void)fd, (void)addr, (void)len;
	errno = ENOTCONN;
	return -1;
}
