/* libuv echo server ("libuv"): one thread, the default loop, uv_read_start / uv_write.
 *
 *   uv_echo PORT
 *   uv_echo --version     (prints libuv's version, for the table's label)
 *
 * Each connection reads into its own 64 KiB buffer (alloc_cb hands it out; no allocation per
 * read) and echoes what arrived with uv_try_write() (the write system call, at once). Bytes
 * the kernel does not take are copied into a heap block that a uv_write() owns; while it is
 * pending reading stops (uv_read_stop) and resumes from the write's callback (backpressure, as
 * the epoll server's). The common case is one read and one write per request, as for the raw
 * epoll server; a uv_write() per request would also cost an epoll_ctl per request for the
 * read stop/start around it. TCP_NODELAY on every connection.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

enum { BUF_SIZE = 64 * 1024 };

typedef struct {
  uv_tcp_t tcp; /* first: the handle's address is the connection's */
  uv_write_t req;
  char* rest; /* the bytes req writes (heap), NULL when no write is pending */
  char buf[BUF_SIZE];
} Conn;

static void on_close(uv_handle_t* h) {
  free(h);
} /* a pending write's callback ran before */

static void on_alloc(uv_handle_t* h, size_t suggested, uv_buf_t* out) {
  (void)suggested;
  Conn* c = (Conn*)h;
  *out = uv_buf_init(c->buf, BUF_SIZE);
}

static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b);

static void on_written(uv_write_t* req, int status) {
  Conn* c = req->data;
  free(c->rest);
  c->rest = NULL;
  if (status < 0) {
    if (!uv_is_closing((uv_handle_t*)&c->tcp)) uv_close((uv_handle_t*)&c->tcp, on_close);
    return;
  }
  uv_read_start((uv_stream_t*)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* b) {
  Conn* c = (Conn*)s;
  if (n < 0) {
    if (!uv_is_closing((uv_handle_t*)s)) uv_close((uv_handle_t*)s, on_close);
    return;
  }
  if (n == 0) return; /* EAGAIN */
  uv_buf_t out = uv_buf_init(b->base, (unsigned)n);
  int w = uv_try_write(s, &out, 1);
  if (w == n) return;
  if (w < 0 && w != UV_EAGAIN) {
    uv_close((uv_handle_t*)s, on_close);
    return;
  }
  size_t done = w > 0 ? (size_t)w : 0;
  c->rest = malloc((size_t)n - done);
  if (!c->rest) {
    uv_close((uv_handle_t*)s, on_close);
    return;
  }
  memcpy(c->rest, b->base + done, (size_t)n - done);
  out = uv_buf_init(c->rest, (unsigned)((size_t)n - done));
  uv_read_stop(s); /* until the rest is out */
  c->req.data = c;
  if (uv_write(&c->req, s, &out, 1, on_written) < 0) {
    free(c->rest);
    c->rest = NULL;
    uv_close((uv_handle_t*)s, on_close);
  }
}

static void on_connection(uv_stream_t* server, int status) {
  if (status < 0) return;
  Conn* c = calloc(1, sizeof *c);
  if (!c) return;
  uv_tcp_init(server->loop, &c->tcp);
  if (uv_accept(server, (uv_stream_t*)&c->tcp) != 0) {
    uv_close((uv_handle_t*)&c->tcp, on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  uv_read_start((uv_stream_t*)&c->tcp, on_alloc, on_read);
}

int main(int argc, char** argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: uv_echo PORT | --version\n");
    return 2;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("%s\n", uv_version_string());
    return 0;
  }
  signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error return, not death */
  uv_loop_t* loop = uv_default_loop();
  uv_tcp_t server;
  uv_tcp_init(loop, &server);
  struct sockaddr_in addr;
  uv_ip4_addr("127.0.0.1", atoi(argv[1]), &addr);
  int r = uv_tcp_bind(&server, (const struct sockaddr*)&addr, 0);
  if (r == 0) r = uv_listen((uv_stream_t*)&server, 1024, on_connection);
  if (r != 0) {
    fprintf(stderr, "uv_echo: bind/listen: %s\n", uv_strerror(r));
    return 1;
  }
  return uv_run(loop, UV_RUN_DEFAULT);
}
