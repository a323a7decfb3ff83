// Helpers shared by the subprocess tests: counting this process's open fds and children.
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>

namespace proctest {

/// Entries of /proc/self/fd (the directory's own fd included, so compare counts only).
inline int open_fd_count() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n;
}

/// Our children still in the process table (any state), and how many of them are zombies.
struct Children {
  int all = 0;
  int zombies = 0;
};

inline Children our_children() {
  Children c;
  const pid_t me = ::getpid();
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return c;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    char state = 0;
    long ppid = 0;
    rest >> state >> ppid;
    if (ppid != me) continue;
    ++c.all;
    if (state == 'Z') ++c.zombies;
  }
  ::closedir(d);
  return c;
}

/// Our children that are not helper threads' business: waits up to 5 s for them to go.
inline Children wait_children_gone() {
  using namespace std::chrono_literals;
  Children c = our_children();
  for (int i = 0; i < 500 && c.all != 0; ++i) {
    std::this_thread::sleep_for(10ms);
    c = our_children();
  }
  return c;
}

}  // namespace proctest
