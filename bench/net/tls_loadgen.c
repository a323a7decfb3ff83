/* TLS load generator for the TLS echo benchmarks: plain C, epoll, OpenSSL non-blocking.
 *
 *   tls_loadgen --port P --conns C --size S [--mode echo|handshake] [--warmup W]
 *               [--duration D] [--server-pid PID] [--ciphersuite NAME] [--group NAME]
 *
 * echo:      C connections, each does one TLS handshake, then sends one S-byte message, waits
 *            for the S bytes back, records the round trip and sends the next (lockstep, as
 *            loadgen's lockstep mode). A request is one echoed message.
 * handshake: C connections in parallel, each in a loop: TCP connect, full TLS handshake, one
 *            S-byte echo, close_notify, close. A request is one such cycle (its latency runs
 *            from connect() to the echo's last byte), so "per request" = per handshake.
 *
 * The client offers exactly one TLS 1.3 cipher suite (default TLS_AES_128_GCM_SHA256) and one
 * key-exchange group (default X25519), so every server negotiates the same; it does not verify
 * the server's certificate (self-signed; verifying would only cost client CPU), keeps no
 * session cache and sets SSL_OP_NO_TICKET, so every handshake is a full one. The servers are
 * configured not to send tickets either (bench/README.md, "TLS").
 *
 * Measures as loadgen does (server CPU and run-queue wait over the window, from /proc; every
 * latency) and prints one JSON line with the same keys.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
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

static int64_t cpu_ns(void) { /* this process's CPU time: the client side of the handshakes */
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

enum State { ST_HANDSHAKE, ST_WRITE, ST_READ };

typedef struct {
  int fd;
  SSL* ssl;
  enum State st;
  size_t received;
  int64_t started; /* this request's start: the message's write (echo), connect() (handshake) */
  uint32_t events; /* registered epoll interest */
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

static SSL_CTX* ctx;
static struct sockaddr_in addr;
static int ep;
static int handshake_mode;
static size_t size;
static char *out, *in;
static int measuring;
static uint64_t done, bytes, errors;

static void report_ssl(const char* what, int err) {
  unsigned long e = ERR_get_error();
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  fprintf(stderr, "tls_loadgen: %s: SSL error %d (%s; errno %s)\n", what, err, e ? buf : "-",
          strerror(errno));
  ++errors;
}

/* Opens connection i: non-blocking connect (the handshake's first write waits for it). */
static void open_conn(Conn* c, uint32_t i) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) die("socket");
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  c->started = now_ns();
  if (connect(c->fd, (struct sockaddr*)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
    die("connect");
  c->ssl = SSL_new(ctx);
  if (!c->ssl) die("SSL_new");
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_connect_state(c->ssl);
  c->st = ST_HANDSHAKE;
  c->received = 0;
  c->events = EPOLLOUT;
  struct epoll_event ev = {.events = c->events, .data.u32 = i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

static void close_conn(Conn* c) {
  SSL_shutdown(c->ssl); /* sends close_notify; does not wait for the server's */
  SSL_free(c->ssl);
  close(c->fd); /* leaves epoll with it */
  c->ssl = NULL;
  c->fd = -1;
}

/* What an SSL call's WANT_* result needs from epoll; 0 on a real error (counted). */
static uint32_t want(Conn* c, int r, const char* what) {
  int err = SSL_get_error(c->ssl, r);
  if (err == SSL_ERROR_WANT_READ) return EPOLLIN;
  if (err == SSL_ERROR_WANT_WRITE) return EPOLLOUT;
  report_ssl(what, err);
  return 0;
}

/* Runs connection i as far as it goes without blocking; returns -1 on error. */
static int drive(Conn* c, uint32_t i) {
  uint32_t need = 0;
  for (;;) {
    if (c->st == ST_HANDSHAKE) {
      int r = SSL_do_handshake(c->ssl);
      if (r == 1) {
        c->st = ST_WRITE;
        if (!handshake_mode) c->started = now_ns();
        continue;
      }
      if (!(need = want(c, r, "handshake"))) return -1;
      break;
    }
    if (c->st == ST_WRITE) {
      int r = SSL_write(c->ssl, out, (int)size); /* whole message or WANT_* (no partial mode) */
      if (r > 0) {
        c->st = ST_READ;
        c->received = 0;
        continue;
      }
      if (!(need = want(c, r, "write"))) return -1;
      break;
    }
    int r = SSL_read(c->ssl, in, (int)(size - c->received));
    if (r <= 0) {
      if (!(need = want(c, r, "read (server closed?)"))) return -1;
      break;
    }
    c->received += (size_t)r;
    if (c->received < size) continue;
    int64_t t = now_ns();
    if (measuring) {
      record(t - c->started);
      ++done;
      bytes += size;
    }
    if (handshake_mode) {
      close_conn(c);
      open_conn(c, i);
      return 0; /* registered for EPOLLOUT: the connect's completion drives it on */
    }
    c->st = ST_WRITE;
    c->started = t;
  }
  if (need != c->events) {
    struct epoll_event ev = {.events = need, .data.u32 = i};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
    c->events = need;
  }
  return 0;
}

int main(int argc, char** argv) {
  const char* host = "127.0.0.1";
  const char* ciphersuite = "TLS_AES_128_GCM_SHA256";
  const char* group = "X25519";
  int port = 0, conns = 1, server_pid = 0;
  double warmup = 0.5, duration = 2.0;
  size = 1024;
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
      handshake_mode = !strcmp(v, "handshake");
    else if (!strcmp(k, "--warmup"))
      warmup = atof(v);
    else if (!strcmp(k, "--duration"))
      duration = atof(v);
    else if (!strcmp(k, "--server-pid"))
      server_pid = atoi(v);
    else if (!strcmp(k, "--ciphersuite"))
      ciphersuite = v;
    else if (!strcmp(k, "--group"))
      group = v;
    else {
      fprintf(stderr, "unknown option %s\n", k);
      return 2;
    }
  }
  if (!port || !size || size > (1u << 30) || conns < 1) {
    fprintf(stderr, "usage: tls_loadgen --port P --conns C --size S [--mode echo|handshake] ...\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN); /* a server gone mid-write: reported as an error, not a silent death */
  out = malloc(size);
  in = malloc(size);
  if (!out || !in) die("malloc");
  for (size_t i = 0; i < size; ++i) out[i] = (char)('a' + i % 26);

  ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) die("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_set_ciphersuites(ctx, ciphersuite) != 1 ||
      SSL_CTX_set1_groups_list(ctx, group) != 1) {
    fprintf(stderr, "tls_loadgen: unknown cipher suite %s or group %s\n", ciphersuite, group);
    return 2;
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);

  addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) die("inet_pton");
  ep = epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  Conn* cs = calloc((size_t)conns, sizeof *cs);
  if (!cs) die("calloc");
  for (int i = 0; i < conns; ++i) open_conn(&cs[i], (uint32_t)i);

  const int64_t t_start = now_ns();
  const int64_t t_measure = t_start + (int64_t)(warmup * 1e9);
  const int64_t t_end = t_measure + (int64_t)(duration * 1e9);
  int64_t cpu0 = -1, cpu1 = -1, t0 = 0, t1 = 0;
  int64_t swait0 = -1, swait1 = -1, gwait0 = -1, gwait1 = -1, gcpu0 = 0, gcpu1 = 0;
  struct epoll_event evs[256];

  while (!errors) {
    int64_t now = now_ns();
    if (!measuring && now >= t_measure) {
      measuring = 1;
      t0 = now;
      cpu0 = server_cpu_ns(server_pid);
      swait0 = server_pid > 0 ? runqueue_wait_ns(server_pid) : -1;
      gwait0 = runqueue_wait_ns(0);
      gcpu0 = cpu_ns();
    }
    if (now >= t_end) {
      cpu1 = server_cpu_ns(server_pid);
      swait1 = server_pid > 0 ? runqueue_wait_ns(server_pid) : -1;
      gwait1 = runqueue_wait_ns(0);
      gcpu1 = cpu_ns();
      t1 = now_ns();
      break;
    }
    int nev = epoll_wait(ep, evs, 256, 10);
    if (nev < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int e = 0; e < nev && !errors; ++e) {
      uint32_t i = evs[e].data.u32;
      /* EPOLLERR/HUP: the SSL call sees the socket error and reports it */
      if (drive(&cs[i], i) < 0) break;
    }
  }
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
      "\"loadgen_cpu_pct\": %.1f, \"errors\": %llu}\n",
      (unsigned long long)done, secs, secs > 0 ? (double)done / secs : 0,
      secs > 0 ? (double)bytes / secs / 1e6 : 0, p50, p99, cpu_s,
      (done && cpu_s >= 0) ? cpu_s * 1e6 / (double)done : -1,
      (secs > 0 && cpu_s >= 0) ? 100.0 * cpu_s / secs : -1, swait, gwait,
      (secs > 0 && gcpu1 > 0) ? 100.0 * (double)(gcpu1 - gcpu0) / 1e9 / secs : -1,
      (unsigned long long)errors);
  return errors ? 1 : 0;
}
