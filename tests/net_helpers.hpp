// Helpers shared by the network tests: bounded-time runs, temp dirs, fd counting and real
// peer processes (Python's asyncio, openssl s_server/s_client, curl).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"
#include "asyncio/net.hpp"
#include "asyncio/sockets.hpp"
#include "asyncio/streams.hpp"

extern char** environ;

// ASSERT_* cannot be used in coroutines (they `return`): these stop the coroutine instead.
#define CO_ASSERT_TRUE(cond)                \
  do {                                      \
    if (!(cond)) {                          \
      ADD_FAILURE() << "failed: " #cond;    \
      co_return;                            \
    }                                       \
  } while (0)
#define CO_ASSERT_EQ(a, b)                  \
  do {                                      \
    EXPECT_EQ(a, b);                        \
    if (!((a) == (b))) co_return;           \
  } while (0)

namespace nettest {

using namespace std::chrono_literals;

/// Runs `coro` on a fresh loop with a deadline, so that a broken test fails instead of hanging.
template <class T>
T run(asyncio::Coro<T> coro, asyncio::Duration limit = std::chrono::seconds(30)) {
  return asyncio::run(asyncio::wait_for(std::move(coro), limit));
}

/// A private temporary directory, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "asyncio-net-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// Number of open fds of this process.
inline int count_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    ::closedir(d);
    --n;  // the directory stream itself
  }
  return n;
}

inline bool command_works(const std::string& cmd) {
  return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
}

/// The Python used for interop peers: 3.12 through pyenv when available, else python3.
inline const std::vector<std::string>& python_argv() {
  static const std::vector<std::string> argv = [] {
    if (command_works("PYENV_VERSION=3.12.1 python3.12 -c 'import asyncio, ssl'")) {
      return std::vector<std::string>{"/usr/bin/env", "PYENV_VERSION=3.12.1", "python3.12"};
    }
    return std::vector<std::string>{"/usr/bin/env", "python3"};
  }();
  return argv;
}

inline std::string peers_dir() { return std::string(ASYNCIO_SOURCE_DIR) + "/tests/peers"; }

/// A child process with its stdout (and optionally stderr) on a pipe; killed (SIGKILL) and
/// reaped on destruction if still running.
class Process {
 public:
  explicit Process(const std::vector<std::string>& argv, bool merge_stderr = false,
                   bool stdin_pipe = false) {
    int out[2];
    int in[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    if (stdin_pipe && ::pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    if (merge_stderr) posix_spawn_file_actions_adddup2(&fa, out[1], 2);
    if (stdin_pipe) {
      posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    } else {
      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = ::posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    if (stdin_pipe) ::close(in[0]);
    if (rc != 0) {
      ::close(out[0]);
      if (stdin_pipe) ::close(in[1]);
      throw std::runtime_error("cannot start " + argv[0]);
    }
    out_ = out[0];
    in_ = in[1];
  }
  ~Process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int st;
      ::waitpid(pid_, &st, 0);
    }
    if (out_ >= 0) ::close(out_);
    if (in_ >= 0) ::close(in_);
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  /// Reads one line of stdout (blocking, at most `timeout`); nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      if (auto pos = buf_.find('\n'); pos != std::string::npos) {
        std::string line = buf_.substr(0, pos);
        buf_.erase(0, pos + 1);
        return line;
      }
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, left.count() > 0 ? static_cast<int>(left.count()) : 0) <= 0) {
        if (left.count() <= 0) return std::nullopt;
        continue;
      }
      char chunk[4096];
      ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  /// Reads stdout until EOF (at most `timeout`).
  std::string read_all(std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string all = std::move(buf_);
    buf_.clear();
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return all;
      pollfd p{out_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[4096];
      ssize_t n = ::read(out_, chunk, sizeof chunk);
      if (n <= 0) return all;
      all.append(chunk, static_cast<std::size_t>(n));
    }
  }
  void write_stdin(const std::string& s) {
    if (in_ >= 0 && !s.empty()) [[maybe_unused]] auto n = ::write(in_, s.data(), s.size());
  }
  void close_stdin() {
    if (in_ >= 0) ::close(std::exchange(in_, -1));
  }
  /// Waits for exit (at most `timeout`, then kills); returns the exit status or -1.
  int wait(std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (pid_ > 0) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &st, 0);
        pid_ = -1;
        return -1;
      }
      ::usleep(2000);
    }
    return -1;
  }
  pid_t pid() const { return pid_; }
  /// The caller reaped the child itself (waitpid): the destructor must not kill the pid.
  void reaped() { pid_ = -1; }

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  int in_ = -1;
  std::string buf_;
};

/// Starts a Python peer script from tests/peers with arguments.
inline std::unique_ptr<Process> python_peer(const std::string& script, const std::vector<std::string>& args,
                                            bool merge_stderr = false) {
  std::vector<std::string> argv = python_argv();
  argv.push_back(peers_dir() + "/" + script);
  argv.insert(argv.end(), args.begin(), args.end());
  // stdin is a pipe we keep open: the peer servers run until their stdin closes.
  return std::make_unique<Process>(argv, merge_stderr, /*stdin_pipe=*/true);
}

/// A self-signed CA and a server certificate for "localhost"/127.0.0.1/::1, generated with
/// the openssl command line into a temp dir when the test starts (never committed).
struct TestCerts {
  TempDir dir;
  std::string ca_cert, ca_key, cert, key, other_ca_cert;
  bool ok = false;

  TestCerts() {
    ca_cert = dir.file("ca.pem");
    ca_key = dir.file("ca.key");
    cert = dir.file("server.pem");
    key = dir.file("server.key");
    other_ca_cert = dir.file("other_ca.pem");
    std::string d = dir.path();
    std::string ext = dir.file("ext.cnf");
    FILE* f = std::fopen(ext.c_str(), "w");
    if (!f) return;
    std::fputs("subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n"
               "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth\n", f);
    std::fclose(f);
    std::string q = " >/dev/null 2>&1";
    std::string cmd =
        "cd '" + d + "' && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj '/CN=asyncio test CA' -keyout ca.key -out ca.pem" + q + " && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-subj '/CN=localhost' -keyout server.key -out server.csr" + q + " && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
        "-extfile ext.cnf -out server.pem" + q + " && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 "
        "-subj '/CN=other CA' -keyout other_ca.key -out other_ca.pem" + q;
    ok = std::system(cmd.c_str()) == 0;
  }
};

/// Raises the soft RLIMIT_NOFILE towards `want` (capped at the hard limit); returns the new
/// soft limit.
inline rlim_t raise_fd_limit(rlim_t want) {
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  rlim_t target = want < rl.rlim_max ? want : rl.rlim_max;
  if (rl.rlim_cur < target) {
    rl.rlim_cur = target;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace nettest
