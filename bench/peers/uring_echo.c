/* The raw io_uring reference echo server ("uring-c"): plain C, one thread, liburing.
 *
 *   uring_echo PORT [--bufs N] [--buf-size B]
 *
 * The physical-limit reference of the completion model, as the epoll server is for readiness:
 *   - one multishot accept on the listening socket;
 *   - one multishot recv per connection into a provided-buffer ring (the kernel picks a
 *     buffer per completion; no buffer is tied to a connection while it waits);
 *   - the echo is sent straight from the received buffers (no copy): one send, or one sendmsg
 *     for all the buffers queued on the connection (up to 16); a buffer goes back to the ring
 *     when the send that carried it has completed;
 *   - SQEs prepared while handling completions are submitted together by the one
 *     io_uring_submit_and_wait() of the next loop iteration, which also waits for completions:
 *     in the steady state there is one system call per loop iteration, none per operation.
 *
 * Invariants per connection: at most one send in flight (TCP byte order: the buffers queued
 * behind it go out next, in arrival order); after a partial send, the next send starts with the
 * rest; the connection is freed only once neither its recv nor a send can
 * produce another completion (closing && !recv_armed && !send_inflight).
 *
 * Buffer ring exhausted: the kernel ends the multishot recv with -ENOBUFS. The connection goes
 * on a list and its recv is re-armed at the end of a loop iteration in which buffers are free
 * again (they come back as sends complete). Other ends of a multishot recv without an error
 * (e.g. CQ overflow) re-arm at once. TCP_NODELAY on every connection, as the other servers.
 *
 * liburing 2.3 (Debian 12) has no io_uring_setup_buf_ring(): the ring is mmap()ed and
 * registered with io_uring_register_buf_ring().
 */
#define _GNU_SOURCE
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

enum { OP_ACCEPT = 0, OP_RECV = 1, OP_SEND = 2, OP_MASK = 3 };
enum { BGID = 1, SQ_ENTRIES = 1024, MAX_IOV = 16 };

typedef struct {
  uint16_t bid;
  uint32_t off, len; /* bytes [off, off + len) of buffer bid still to send */
} Pending;

typedef struct Conn {
  int fd;
  int recv_armed;    /* the multishot recv may still post completions */
  int send_inflight; /* one send SQE outstanding (for q[head]) */
  int closing;
  int waiting_bufs; /* on the ENOBUFS list */
  struct Conn* next_waiting;
  Pending* q; /* FIFO (ring) of buffers to echo */
  uint32_t qhead, qlen, qcap;
  struct msghdr msg; /* the in-flight sendmsg (several queued buffers at once) */
  struct iovec iov[MAX_IOV];
} Conn;

static struct io_uring ring;
static struct io_uring_buf_ring* br;
static char* buf_base;
static unsigned nbufs = 128, buf_size = 32768; /* 4 MiB: see bench/README.md */
static unsigned bufs_out;      /* buffers handed to us by the kernel, not yet returned */
static unsigned bufs_returned; /* added to the ring this iteration, not yet published */
static Conn* waiting;          /* connections whose recv ended with ENOBUFS */
static int listen_fd;

static void* tag(void* p, unsigned op) {
  return (void*)((uintptr_t)p | op);
}

/* An SQE; when the SQ is full (only under bursts), submits what is queued to make room. */
static struct io_uring_sqe* get_sqe(void) {
  struct io_uring_sqe* sqe = io_uring_get_sqe(&ring);
  while (!sqe) {
    io_uring_submit(&ring);
    sqe = io_uring_get_sqe(&ring);
  }
  return sqe;
}

static void arm_accept(void) {
  struct io_uring_sqe* sqe = get_sqe();
  io_uring_prep_multishot_accept(sqe, listen_fd, NULL, NULL, 0);
  io_uring_sqe_set_data(sqe, tag(NULL, OP_ACCEPT));
}

static void arm_recv(Conn* c) {
  struct io_uring_sqe* sqe = get_sqe();
  io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = BGID;
  io_uring_sqe_set_data(sqe, tag(c, OP_RECV));
  c->recv_armed = 1;
}

/* Sends the queued buffers (up to MAX_IOV of them) in one operation: a send for one, a
   sendmsg for several (a large message arrives as several buffers). */
static void send_queued(Conn* c) {
  struct io_uring_sqe* sqe = get_sqe();
  Pending* p = &c->q[c->qhead];
  if (c->qlen == 1) {
    io_uring_prep_send(sqe, c->fd, buf_base + (size_t)p->bid * buf_size + p->off, p->len, 0);
  } else {
    uint32_t n = c->qlen < MAX_IOV ? c->qlen : MAX_IOV;
    for (uint32_t i = 0; i < n; ++i) {
      p = &c->q[(c->qhead + i) % c->qcap];
      c->iov[i] = (struct iovec){buf_base + (size_t)p->bid * buf_size + p->off, p->len};
    }
    c->msg = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = n};
    io_uring_prep_sendmsg(sqe, c->fd, &c->msg, 0);
  }
  io_uring_sqe_set_data(sqe, tag(c, OP_SEND));
  c->send_inflight = 1;
}

/* Gives buffer bid back to the kernel; published once per loop iteration. */
static void return_buf(uint16_t bid) {
  io_uring_buf_ring_add(br, buf_base + (size_t)bid * buf_size, buf_size, bid,
                        io_uring_buf_ring_mask(nbufs), (int)bufs_returned);
  ++bufs_returned;
  --bufs_out;
}

static void maybe_free(Conn* c) {
  if (!c->closing || c->recv_armed || c->send_inflight || c->waiting_bufs) return;
  for (; c->qlen; --c->qlen, c->qhead = (c->qhead + 1) % c->qcap) return_buf(c->q[c->qhead].bid);
  close(c->fd);
  free(c->q);
  free(c);
}

static void start_closing(Conn* c) {
  if (!c->closing) {
    c->closing = 1;
    /* ends an armed multishot recv (it completes with 0 or an error, without F_MORE) */
    if (c->recv_armed) shutdown(c->fd, SHUT_RDWR);
  }
  maybe_free(c);
}

static int enqueue(Conn* c, uint16_t bid, uint32_t len) {
  if (c->qlen == c->qcap) {
    uint32_t cap = c->qcap ? c->qcap * 2 : 8;
    Pending* nq = malloc(cap * sizeof *nq);
    if (!nq) return -1;
    for (uint32_t i = 0; i < c->qlen; ++i) nq[i] = c->q[(c->qhead + i) % c->qcap];
    free(c->q);
    c->q = nq;
    c->qcap = cap;
    c->qhead = 0;
  }
  c->q[(c->qhead + c->qlen) % c->qcap] = (Pending){.bid = bid, .off = 0, .len = len};
  ++c->qlen;
  return 0;
}

static void on_accept(struct io_uring_cqe* cqe) {
  if (!(cqe->flags & IORING_CQE_F_MORE)) arm_accept();
  if (cqe->res < 0) return; /* EMFILE etc.: keep accepting */
  int one = 1;
  setsockopt(cqe->res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Conn* c = calloc(1, sizeof *c);
  if (!c) {
    close(cqe->res);
    return;
  }
  c->fd = cqe->res;
  arm_recv(c);
}

static void on_recv(Conn* c, struct io_uring_cqe* cqe) {
  int more = (cqe->flags & IORING_CQE_F_MORE) != 0;
  if (!more) c->recv_armed = 0;
  if (cqe->flags & IORING_CQE_F_BUFFER) {
    uint16_t bid = (uint16_t)(cqe->flags >> IORING_CQE_BUFFER_SHIFT);
    ++bufs_out;
    if (cqe->res <= 0 || c->closing || enqueue(c, bid, (uint32_t)cqe->res) < 0) {
      return_buf(bid);
    } else if (!c->send_inflight) {
      send_queued(c);
    }
  }
  if (cqe->res == -ENOBUFS) {
    /* Buffer ring exhausted. A recv that ended is re-armed once buffers come back (end of
       the loop iteration); one still armed (F_MORE) waits by itself. */
    if (!more && !c->closing) {
      c->waiting_bufs = 1;
      c->next_waiting = waiting;
      waiting = c;
    } else if (!more) {
      maybe_free(c);
    }
    return;
  }
  if (cqe->res <= 0) { /* EOF or error */
    if (!more) start_closing(c);
    return;
  }
  if (!more && !c->closing)
    arm_recv(c); /* ended without error (e.g. CQ overflow) */
  else if (!more)
    maybe_free(c);
}

static void on_send(Conn* c, struct io_uring_cqe* cqe) {
  c->send_inflight = 0;
  if (cqe->res < 0) {
    start_closing(c);
    return;
  }
  /* retire what was sent: whole buffers go back to the ring, a partial one keeps its rest */
  uint32_t sent = (uint32_t)cqe->res;
  while (c->qlen) {
    Pending* p = &c->q[c->qhead];
    if (sent < p->len) {
      p->off += sent;
      p->len -= sent;
      break;
    }
    sent -= p->len;
    return_buf(p->bid);
    c->qhead = (c->qhead + 1) % c->qcap;
    --c->qlen;
  }
  if (c->closing) {
    maybe_free(c);
  } else if (c->qlen) {
    send_queued(c); /* the rest of a partial send, and what arrived meanwhile */
  }
}

static int setup_buffers(void) {
  size_t ring_bytes = nbufs * sizeof(struct io_uring_buf);
  br = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  buf_base = mmap(NULL, (size_t)nbufs * buf_size, PROT_READ | PROT_WRITE,
                  MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED || buf_base == MAP_FAILED) return -errno;
  struct io_uring_buf_reg reg = {
      .ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = nbufs, .bgid = BGID};
  int r = io_uring_register_buf_ring(&ring, &reg, 0);
  if (r < 0) return r;
  io_uring_buf_ring_init(br);
  for (unsigned i = 0; i < nbufs; ++i)
    io_uring_buf_ring_add(br, buf_base + (size_t)i * buf_size, buf_size, (uint16_t)i,
                          io_uring_buf_ring_mask(nbufs), (int)i);
  io_uring_buf_ring_advance(br, (int)nbufs);
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: uring_echo PORT [--bufs N (power of 2)] [--buf-size B]\n");
    return 2;
  }
  for (int i = 2; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--bufs")) nbufs = (unsigned)atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--buf-size")) buf_size = (unsigned)atoi(argv[i + 1]);
  }
  if (nbufs == 0 || (nbufs & (nbufs - 1)) || nbufs > 32768 || buf_size == 0) {
    fprintf(stderr, "uring_echo: --bufs must be a power of 2 up to 32768, --buf-size > 0\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error return, not death */
  /* One issuer thread, task work run only when we wait: the kernel does the completion work
     inside our io_uring_enter instead of interrupting us. Older kernels: plain ring. */
  struct io_uring_params params = {0};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &params);
  if (r == -EINVAL) {
    memset(&params, 0, sizeof params);
    r = io_uring_queue_init_params(SQ_ENTRIES, &ring, &params);
  }
  if (r < 0) {
    fprintf(stderr, "uring_echo: io_uring unavailable: io_uring_queue_init: %s\n", strerror(-r));
    return 1;
  }
  if ((r = setup_buffers()) < 0) {
    fprintf(stderr, "uring_echo: provided-buffer ring: %s\n", strerror(-r));
    return 1;
  }

  listen_fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((unsigned short)atoi(argv[1])),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(listen_fd, (struct sockaddr*)&sa, sizeof sa) < 0 || listen(listen_fd, 1024) < 0) {
    perror("uring_echo: bind/listen");
    return 1;
  }
  arm_accept();

  for (;;) {
    r = io_uring_submit_and_wait(&ring, 1);
    if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
      fprintf(stderr, "uring_echo: io_uring_submit_and_wait: %s\n", strerror(-r));
      return 1;
    }
    unsigned head, seen = 0;
    struct io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
      void* ud = io_uring_cqe_get_data(cqe);
      Conn* c = (Conn*)((uintptr_t)ud & ~(uintptr_t)OP_MASK);
      switch ((uintptr_t)ud & OP_MASK) {
        case OP_ACCEPT:
          on_accept(cqe);
          break;
        case OP_RECV:
          on_recv(c, cqe);
          break;
        case OP_SEND:
          on_send(c, cqe);
          break;
      }
      ++seen;
    }
    io_uring_cq_advance(&ring, seen);
    if (bufs_returned) {
      io_uring_buf_ring_advance(br, (int)bufs_returned);
      bufs_returned = 0;
    }
    /* re-arm the recvs that ran out of buffers, now that some are back */
    while (waiting && bufs_out < nbufs) {
      Conn* c = waiting;
      waiting = c->next_waiting;
      c->waiting_bufs = 0;
      if (c->closing)
        maybe_free(c);
      else
        arm_recv(c);
    }
  }
}
