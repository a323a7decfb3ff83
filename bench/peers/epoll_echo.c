/* The reference echo server: plain C, one thread, epoll edge-triggered, non-blocking sockets.
 *
 *   epoll_echo PORT
 *
 * Each connection reads until EAGAIN and writes back what it read at once; bytes the kernel
 * does not take are kept and flushed on EPOLLOUT, and the connection stops reading until they
 * are (backpressure). TCP_NODELAY on every connection, as asyncio's transports do.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int fd;
  char* pending; /* bytes read but not yet written back */
  size_t plen, pcap;
} Conn;

static char buf[256 * 1024];

static void close_conn(Conn* c) {
  close(c->fd);
  free(c->pending);
  free(c);
}

/* Writes pending bytes; returns 0 when all are out, 1 if some remain, -1 on error. */
static int flush(Conn* c) {
  size_t off = 0;
  while (off < c->plen) {
    ssize_t w = write(c->fd, c->pending + off, c->plen - off);
    if (w < 0) {
      if (errno == EAGAIN) break;
      if (errno == EINTR) continue;
      return -1;
    }
    off += (size_t)w;
  }
  memmove(c->pending, c->pending + off, c->plen - off);
  c->plen -= off;
  return c->plen ? 1 : 0;
}

static int keep(Conn* c, const char* p, size_t n) {
  if (c->plen + n > c->pcap) {
    size_t cap = c->pcap ? c->pcap : 65536;
    while (cap < c->plen + n) cap *= 2;
    char* np = realloc(c->pending, cap);
    if (!np) return -1;
    c->pending = np;
    c->pcap = cap;
  }
  memcpy(c->pending + c->plen, p, n);
  c->plen += n;
  return 0;
}

/* Handles readiness of a connection; returns -1 when it must be closed. */
static int on_conn(Conn* c) {
  if (c->plen) {
    int r = flush(c);
    if (r < 0) return -1;
    if (r > 0) return 0; /* still blocked: do not read more */
  }
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof buf);
    if (n == 0) return -1;
    if (n < 0) {
      if (errno == EAGAIN) return 0;
      if (errno == EINTR) continue;
      return -1;
    }
    size_t off = 0;
    while (off < (size_t)n) {
      ssize_t w = write(c->fd, buf + off, (size_t)n - off);
      if (w < 0) {
        if (errno == EAGAIN) break;
        if (errno == EINTR) continue;
        return -1;
      }
      off += (size_t)w;
    }
    if (off < (size_t)n) {
      /* The send buffer is full: keep the rest and stop reading. The EPOLLOUT edge that
         comes when it drains calls on_conn() again, which flushes, then reads on. */
      if (keep(c, buf + off, (size_t)n - off) < 0) return -1;
      return 0;
    }
  }
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: epoll_echo PORT\n");
    return 2;
  }
  int port = atoi(argv[1]);
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((unsigned short)port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(lfd, (struct sockaddr*)&sa, sizeof sa) < 0 || listen(lfd, 1024) < 0) {
    perror("bind/listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event lev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.ptr == NULL) {
        for (;;) {
          int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
          if (fd < 0) break;
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          Conn* c = calloc(1, sizeof *c);
          c->fd = fd;
          struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP,
                                   .data.ptr = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      Conn* c = evs[i].data.ptr;
      int r = on_conn(c);
      if (r < 0 || ((evs[i].events & (EPOLLHUP | EPOLLERR)) != 0)) close_conn(c);
    }
  }
}
