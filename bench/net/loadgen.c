/* Load generator for the echo benchmarks: plain C, epoll, outside the library.
 *
 *   loadgen --port P [--host 127.0.0.1] --conns C --size S [--mode lockstep|stream]
 *           [--inflight K] [--warmup W] [--duration D] [--server-pid PID]
 *
 * lockstep: each connection sends one S-byte message, waits until the S bytes came back,
 *           records the round-trip latency and sends the next one (ping-pong).
 * stream:   each connection keeps K messages of S bytes in flight (it writes ahead while at
 *           most K*S bytes are unanswered); a message's latency runs from writing its first
 *           byte to reading back its last byte.
 *
 * After W seconds of warm-up it measures for D seconds: completed requests, bytes echoed,
 * every latency (p50/p99 exact), and the server's CPU time over exactly that window, read
 * from the kernel's accounting of the server process (/proc/PID/task/TID/schedstat: ns on CPU,
 * summed over its threads; /proc/PID/stat utime+stime as a fallback), and how long the server
 * and the load generator waited for a CPU (run-queue wait, schedstat field 2) in that window.
 * Prints one JSON line.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "procstat.h"

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

typedef struct {
  int fd;
  /* lockstep */
  size_t sent, received;
  int64_t started;
  /* stream */
  uint64_t wr_bytes, rd_bytes; /* totals since connect */
  int64_t* msg_start;          /* ring of K+1 message start times */
  int want_out;
} Conn;

static int64_t* lat;
static size_t lat_n, lat_cap;
static void record(int64_t ns) {
  if (lat_n == lat_cap) {
    lat_cap = lat_cap ? lat_cap * 2 : 1 << 16;
    lat = realloc(lat, lat_cap * sizeof *lat);
    if (!lat) die("realloc");
  }
  lat[lat_n++] = ns;
}
static int cmp64(const void* a, const void* b) {
  int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  const char* host = "127.0.0.1";
  int port = 0, conns = 1, stream = 0, server_pid = 0;
  size_t size = 64, inflight = 1;
  double warmup = 0.5, duration = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *k = argv[i], *v = argv[i + 1];
    if (!strcmp(k, "--host"))
      host = v;
    else if (!strcmp(k, "--port"))
      port = atoi(v);
    else if (!strcmp(k, "--conns"))
      conns = atoi(v);
    else if (!strcmp(k, "--size"))
      size = (size_t)atol(v);
    else if (!strcmp(k, "--mode"))
      stream = !strcmp(v, "stream");
    else if (!strcmp(k, "--inflight"))
      inflight = (size_t)atol(v);
    else if (!strcmp(k, "--warmup"))
      warmup = atof(v);
    else if (!strcmp(k, "--duration"))
      duration = atof(v);
    else if (!strcmp(k, "--server-pid"))
      server_pid = atoi(v);
    else {
      fprintf(stderr, "unknown option %s\n", k);
      return 2;
    }
  }
  if (!port || !size || conns < 1 || inflight < 1) {
    fprintf(stderr, "usage: loadgen --port P --conns C --size S [--mode lockstep|stream] ...\n");
    return 2;
  }

  signal(SIGPIPE, SIG_IGN); /* a server gone mid-write: reported as an error, not a silent death */
  char* out = malloc(size);
  char* in = malloc(stream ? 65536 : size);
  if (!out || !in) die("malloc");
  for (size_t i = 0; i < size; ++i) out[i] = (char)('a' + i % 26);
  size_t in_cap = stream ? 65536 : size;

  int ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  Conn* cs = calloc((size_t)conns, sizeof *cs);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) die("inet_pton");
  for (int i = 0; i < conns; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    if (connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0) die("connect");
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    cs[i].fd = fd;
    if (stream) {
      cs[i].msg_start = calloc(inflight + 1, sizeof(int64_t));
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
    cs[i].want_out = 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }

  const int64_t t_start = now_ns();
  const int64_t t_measure = t_start + (int64_t)(warmup * 1e9);
  const int64_t t_end = t_measure + (int64_t)(duration * 1e9);
  int measuring = 0;
  int64_t cpu0 = -1, cpu1 = -1, t0 = 0, t1 = 0;
  int64_t swait0 = -1, swait1 = -1, gwait0 = -1, gwait1 = -1;
  uint64_t done = 0, bytes = 0, errors = 0;
  struct epoll_event evs[256];

  for (;;) {
    int64_t now = now_ns();
    if (!measuring && now >= t_measure) {
      measuring = 1;
      t0 = now;
      cpu0 = server_cpu_ns(server_pid);
      swait0 = server_pid > 0 ? runqueue_wait_ns(server_pid) : -1;
      gwait0 = runqueue_wait_ns(0);
    }
    if (now >= t_end) {
      cpu1 = server_cpu_ns(server_pid);
      swait1 = server_pid > 0 ? runqueue_wait_ns(server_pid) : -1;
      gwait1 = runqueue_wait_ns(0);
      t1 = now_ns();
      break;
    }
    int nev = epoll_wait(ep, evs, 256, 10);
    if (nev < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    now = now_ns();
    for (int e = 0; e < nev; ++e) {
      Conn* c = &cs[evs[e].data.u32];
      uint32_t ev = evs[e].events;
      if (ev & (EPOLLERR | EPOLLHUP)) {
        fprintf(stderr, "loadgen: connection error/hangup\n");
        ++errors;
        goto finish;
      }
      if (!stream) {
        /* ---- lockstep ---- */
        if ((ev & EPOLLOUT) && c->sent < size) {
          if (c->sent == 0 && c->received == 0) c->started = now;
          ssize_t w = write(c->fd, out + c->sent, size - c->sent);
          if (w > 0)
            c->sent += (size_t)w;
          else if (w < 0 && errno != EAGAIN)
            die("write");
        }
        if (ev & EPOLLIN) {
          for (;;) {
            ssize_t r = read(c->fd, in, in_cap - c->received);
            if (r == 0) {
              fprintf(stderr, "loadgen: server closed the connection\n");
              ++errors;
              goto finish;
            }
            if (r < 0) {
              if (errno == EAGAIN) break;
              die("read");
            }
            c->received += (size_t)r;
            if (c->received == size) {
              int64_t t = now_ns();
              if (measuring) {
                record(t - c->started);
                ++done;
                bytes += size;
              }
              c->received = 0;
              c->sent = 0;
              c->started = t;
              ssize_t w = write(c->fd, out, size);
              if (w > 0)
                c->sent = (size_t)w;
              else if (w < 0 && errno != EAGAIN)
                die("write");
            }
            if (c->sent < size) break; /* wait for EPOLLOUT */
          }
        }
        int want = c->sent < size;
        if (want != c->want_out) {
          struct epoll_event mod = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                    .data.u32 = evs[e].data.u32};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mod);
          c->want_out = want;
        }
      } else {
        /* ---- stream ---- */
        if (ev & EPOLLIN) {
          for (;;) {
            ssize_t r = read(c->fd, in, in_cap);
            if (r == 0) {
              fprintf(stderr, "loadgen: server closed the connection\n");
              ++errors;
              goto finish;
            }
            if (r < 0) {
              if (errno == EAGAIN) break;
              die("read");
            }
            uint64_t before = c->rd_bytes;
            c->rd_bytes += (uint64_t)r;
            /* messages whose last byte just arrived */
            uint64_t first = before / size, last = c->rd_bytes / size;
            if (measuring) bytes += (uint64_t)r;
            if (last > first) {
              int64_t t = now_ns();
              for (uint64_t m = first; m < last; ++m) {
                if (measuring) {
                  record(t - c->msg_start[m % (inflight + 1)]);
                  ++done;
                }
              }
            }
          }
        }
        for (;;) {
          uint64_t limit = (c->rd_bytes / size + inflight) * size; /* at most K unanswered */
          if (c->wr_bytes >= limit) break;
          size_t off = (size_t)(c->wr_bytes % size);
          if (off == 0) c->msg_start[(c->wr_bytes / size) % (inflight + 1)] = now_ns();
          size_t len = size - off;
          if (len > limit - c->wr_bytes) len = (size_t)(limit - c->wr_bytes);
          ssize_t w = write(c->fd, out + off, len);
          if (w < 0) {
            if (errno == EAGAIN) break;
            die("write");
          }
          c->wr_bytes += (uint64_t)w;
        }
        uint64_t limit = (c->rd_bytes / size + inflight) * size;
        int want = c->wr_bytes < limit;
        if (want != c->want_out) {
          struct epoll_event mod = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                    .data.u32 = evs[e].data.u32};
          epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mod);
          c->want_out = want;
        }
      }
    }
  }
finish:
  if (!t1) {
    cpu1 = server_cpu_ns(server_pid);
    t1 = now_ns();
  }
  if (!measuring) t0 = t1;
  double secs = (double)(t1 - t0) / 1e9;
  double p50 = 0, p99 = 0;
  if (lat_n) {
    qsort(lat, lat_n, sizeof *lat, cmp64);
    p50 = (double)lat[(size_t)(0.50 * (double)(lat_n - 1))] / 1e3;
    p99 = (double)lat[(size_t)(0.99 * (double)(lat_n - 1))] / 1e3;
  }
  double cpu_s = (cpu0 >= 0 && cpu1 >= 0) ? (double)(cpu1 - cpu0) / 1e9 : -1;
  double swait = (swait0 >= 0 && swait1 >= 0 && secs > 0)
                     ? 100.0 * (double)(swait1 - swait0) / 1e9 / secs
                     : -1;
  double gwait = (gwait0 >= 0 && gwait1 >= 0 && secs > 0)
                     ? 100.0 * (double)(gwait1 - gwait0) / 1e9 / secs
                     : -1;
  printf(
      "{\"requests\": %llu, \"seconds\": %.6f, \"rps\": %.1f, \"mb_per_s\": %.3f, "
      "\"p50_us\": %.2f, \"p99_us\": %.2f, \"server_cpu_s\": %.6f, \"cpu_us_per_req\": %.3f, "
      "\"server_cpu_pct\": %.1f, \"server_wait_pct\": %.1f, \"loadgen_wait_pct\": %.1f, "
      "\"errors\": %llu}\n",
      (unsigned long long)done, secs, secs > 0 ? (double)done / secs : 0,
      secs > 0 ? (double)bytes / secs / 1e6 : 0, p50, p99, cpu_s,
      (done && cpu_s >= 0) ? cpu_s * 1e6 / (double)done : -1,
      (secs > 0 && cpu_s >= 0) ? 100.0 * cpu_s / secs : -1, swait, gwait,
      (unsigned long long)errors);
  return errors ? 1 : 0;
}
