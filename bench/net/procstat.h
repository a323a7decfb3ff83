/* Kernel accounting of a process's CPU time and run-queue wait, shared by the load
 * generators (loadgen.c, tls_loadgen.c): read at the start and end of the measured window.
 */
#ifndef BENCH_NET_PROCSTAT_H
#define BENCH_NET_PROCSTAT_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Time the process spent waiting on a run queue (runnable but not running), summed over its
   threads: /proc/PID/task/TID/schedstat field 2. pid 0 = this process. A large share of the
   window means the machine is oversubscribed and the figures measure that, not the server. */
static int64_t runqueue_wait_ns(int pid) {
  char path[64];
  if (pid <= 0) pid = (int)getpid();
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR* d = opendir(path);
  if (!d) return -1;
  int64_t total = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char p[320];
    snprintf(p, sizeof p, "/proc/%d/task/%s/schedstat", pid, e->d_name);
    FILE* f = fopen(p, "r");
    if (!f) continue;
    long long run = 0, wait = 0;
    if (fscanf(f, "%lld %lld", &run, &wait) == 2) total += wait;
    fclose(f);
  }
  closedir(d);
  return total;
}

/* Server CPU time in ns (all threads), or -1. */
static int64_t server_cpu_ns(int pid) {
  if (pid <= 0) return -1;
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task", pid);
  DIR* d = opendir(path);
  if (d) {
    int64_t total = 0;
    int found = 0;
    struct dirent* e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.') continue;
      char p[320];
      snprintf(p, sizeof p, "/proc/%d/task/%s/schedstat", pid, e->d_name);
      FILE* f = fopen(p, "r");
      if (!f) continue;
      long long run = 0;
      if (fscanf(f, "%lld", &run) == 1) {
        total += run;
        found = 1;
      }
      fclose(f);
    }
    closedir(d);
    if (found) return total;
  }
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return -1;
  char buf[1024];
  size_t len = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[len] = 0;
  char* p = strrchr(buf, ')');
  if (!p) return -1;
  unsigned long long ut = 0, st = 0;
  /* fields after ')': state(3) ... utime(14) stime(15) */
  if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return -1;
  return (int64_t)((ut + st) * (1000000000ULL / (unsigned long long)sysconf(_SC_CLK_TCK)));
}

#endif
