// Spawning children with posix_spawn (Python: subprocess.Popen._execute_child, as used by
// asyncio's _UnixSubprocessTransport._start).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include "asyncio/net_errors.hpp"
#include "asyncio/subprocess.hpp"
#include "unix_internal.hpp"

extern char** environ;  // NOLINT: POSIX

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define ASYNCIO_HAVE_CLOSEFROM_ACTION 1
#else
#define ASYNCIO_HAVE_CLOSEFROM_ACTION 0
#endif

namespace asyncio {

std::map<std::string, std::string> current_environment() {
  std::map<std::string, std::string> env;
  for (char** p = environ; p != nullptr && *p != nullptr; ++p) {
    std::string entry(*p);
    const auto eq = entry.find('=');
    if (eq == std::string::npos) continue;
    env.emplace(entry.substr(0, eq), entry.substr(eq + 1));
  }
  return env;
}

namespace detail {
namespace {

/// Closes what it holds unless released: no fd leaks on any failure path.
class FdSet {
 public:
  FdSet() = default;
  FdSet(const FdSet&) = delete;
  FdSet& operator=(const FdSet&) = delete;
  ~FdSet() {
    for (int fd : fds_) ::close(fd);
  }
  int add(int fd) {
    fds_.push_back(fd);
    return fd;
  }
  void release(int fd) { fds_.erase(std::remove(fds_.begin(), fds_.end(), fd), fds_.end()); }

 private:
  std::vector<int> fds_;
};

/// A close-on-exec duplicate of `fd` numbered 3 or more, so that the dup2() onto 0, 1 and 2
/// in the child can never overwrite a source fd before it is used.
int dup_above_stdio(int fd, FdSet& owned) {
  const int copy = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (copy < 0) throw_os_error(errno);
  return owned.add(copy);
}

void set_nonblocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) throw_os_error(errno);
}

/// Python's os.get_exec_path(env) + the execve() loop of _posixsubprocess: the first
/// executable candidate; "" with `err` set (ENOENT, or EACCES if some candidate exists but
/// cannot be executed) when there is none.
std::string find_program(const std::string& program, const SpawnOptions& options, int& err) {
  err = 0;
  if (program.find('/') != std::string::npos) return program;
  std::string path;
  if (options.env) {
    auto it = options.env->find("PATH");
    path = it != options.env->end() ? it->second : "/bin:/usr/bin";
  } else {
    const char* p = std::getenv("PATH");
    path = p != nullptr ? p : "/bin:/usr/bin";
  }
  std::size_t begin = 0;
  while (true) {
    const std::size_t end = path.find(':', begin);
    const std::string dir =
        path.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
    const std::string candidate = dir.empty() ? program : dir + "/" + program;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode) && ::access(candidate.c_str(), X_OK) == 0) return candidate;
      if (err == 0) err = EACCES;
    } else if (errno != ENOENT && errno != ENOTDIR && err == 0) {
      err = errno;
    }
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  if (err == 0) err = ENOENT;
  return {};
}

bool is_usable_dir(const std::string& dir) {
  struct stat st {};
  return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && ::access(dir.c_str(), X_OK) == 0;
}

[[noreturn]] void throw_spawn_error(int err, const std::string& program,
                                    const SpawnOptions& options) {
  if (options.cwd && (err == ENOENT || err == ENOTDIR || err == EACCES) &&
      !is_usable_dir(*options.cwd)) {
    // Python: the failed chdir() names the directory ("[Errno 2] ...: '/nonexistent'").
    std::rethrow_exception(make_os_error(err, std::generic_category().message(err), *options.cwd));
  }
  std::rethrow_exception(make_os_error(err, std::generic_category().message(err), program));
}

/// Python's checks on every string that reaches execve/chdir, in its order: environment
/// names first (subprocess.Popen._execute_child), then embedded NULs (_posixsubprocess's
/// PyUnicode_FSConverter). A C string ends at the first NUL, so without them "a\0b" would
/// silently become "a": another program, file or command than the caller asked for.
void check_exec_strings(const std::vector<std::string>& argv, const SpawnOptions& options) {
  if (options.env) {
    for (const auto& entry : *options.env) {
      // Python rejects any '='; the empty name is os.execve's rule ("=x" means nothing).
      if (entry.first.empty() || entry.first.find('=') != std::string::npos) {
        throw ValueError("illegal environment variable name");
      }
    }
  }
  const auto has_nul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  bool bad = std::any_of(argv.begin(), argv.end(), has_nul) ||
             (options.executable && has_nul(*options.executable)) ||
             (options.cwd && has_nul(*options.cwd));
  if (!bad && options.env) {
    for (const auto& [key, value] : *options.env) bad = bad || has_nul(key) || has_nul(value);
  }
  if (bad) throw ValueError("embedded null byte");
}

struct FileActions {
  posix_spawn_file_actions_t fa;
  FileActions() { posix_spawn_file_actions_init(&fa); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
};

struct SpawnAttr {
  posix_spawnattr_t attr;
  SpawnAttr() { posix_spawnattr_init(&attr); }
  ~SpawnAttr() { posix_spawnattr_destroy(&attr); }
  SpawnAttr(const SpawnAttr&) = delete;
  SpawnAttr& operator=(const SpawnAttr&) = delete;
};

void check(int rc, const char* what) {
  (void)what;
  if (rc != 0) throw_os_error(rc);
}

}  // namespace

SpawnOptions::SpawnOptions(const SubprocessOptions& o, Stdio::Kind default_kind)
    : stdio{o.stdin, o.stdout, o.stderr},
      start_new_session(o.start_new_session),
      process_group(o.process_group),
      pass_fds(o.pass_fds.begin(), o.pass_fds.end()),
      close_fds(o.close_fds),
      limit(o.limit) {
  for (Stdio& s : stdio) {
    if (s.kind() == Stdio::Kind::Default) s = Stdio(default_kind);
  }
  if (o.cwd) cwd.emplace(*o.cwd);
  if (o.env) env.emplace(o.env->get());
  if (o.executable) executable.emplace(*o.executable);
}

SpawnedChild spawn_child(const std::vector<std::string>& argv, const SpawnOptions& options) {
  const Stdio(&stdio)[3] = options.stdio;
  check_exec_strings(argv, options);  // before anything touches the OS
  if (argv.empty() || argv[0].empty()) throw ValueError("the program name must not be empty");
  for (int i = 0; i < 2; ++i) {
    if (stdio[i].kind() == Stdio::Kind::Stdout)
      throw ValueError("STDOUT can only be used for stderr");
  }
  for (const Stdio& s : stdio) {
    if (s.kind() == Stdio::Kind::Fd && (s.fd() < 0 || ::fcntl(s.fd(), F_GETFD) < 0)) {
      throw_os_error(EBADF);
    }
  }
  std::vector<int> pass_fds;
  // Python's _posixsubprocess: a negative number is refused, not skipped.
  if (std::any_of(options.pass_fds.begin(), options.pass_fds.end(), [](int fd) { return fd < 0; }))
    throw ValueError("bad value(s) in fds_to_keep");
  for (int fd : options.pass_fds) {
    if (fd < 3) continue;  // 0, 1 and 2 are the child's stdio anyway
    if (::fcntl(fd, F_GETFD) < 0) throw_os_error(EBADF);
    pass_fds.push_back(fd);
  }
  std::sort(pass_fds.begin(), pass_fds.end());
  pass_fds.erase(std::unique(pass_fds.begin(), pass_fds.end()), pass_fds.end());

  const std::string& exe_name = options.executable ? *options.executable : argv[0];
  int lookup_err = 0;
  const std::string exe_path = find_program(exe_name, options, lookup_err);
  if (exe_path.empty()) throw_spawn_error(lookup_err, exe_name, options);

  FdSet temporaries;  // always closed: child ends and low-numbered copies
  FdSet parent_ends;  // closed unless the spawn succeeds
  int child_fd[3] = {-1, -1, -1};
  int parent_fd[3] = {-1, -1, -1};
  for (int i = 0; i < 3; ++i) {
    if (stdio[i].kind() == Stdio::Kind::Pipe) {
      int p[2];
      if (::pipe2(p, O_CLOEXEC) != 0) throw_os_error(errno);
      const int child_end = i == 0 ? p[0] : p[1];
      const int parent_end = i == 0 ? p[1] : p[0];
      temporaries.add(child_end);
      parent_fd[i] = parent_ends.add(parent_end);
      child_fd[i] = child_end >= 3 ? child_end : dup_above_stdio(child_end, temporaries);
      set_nonblocking(parent_end);
    } else if (stdio[i].kind() == Stdio::Kind::Fd) {
      child_fd[i] =
          stdio[i].fd() >= 3 ? stdio[i].fd() : dup_above_stdio(stdio[i].fd(), temporaries);
    }
  }

  FileActions actions;
  posix_spawn_file_actions_t* fa = &actions.fa;
  for (int i = 0; i < 3; ++i) {
    switch (stdio[i].kind()) {
      case Stdio::Kind::Pipe:
      case Stdio::Kind::Fd:
        // dup2() clears close-on-exec on the copy.
        check(posix_spawn_file_actions_adddup2(fa, child_fd[i], i),
              "posix_spawn_file_actions_adddup2");
        break;
      case Stdio::Kind::DevNull:
        check(posix_spawn_file_actions_addopen(fa, i, "/dev/null", O_RDWR, 0),
              "posix_spawn_file_actions_addopen");
        break;
      case Stdio::Kind::Stdout:  // stderr only: 2>&1, after stdout is in place
        check(posix_spawn_file_actions_adddup2(fa, 1, 2), "posix_spawn_file_actions_adddup2");
        break;
      case Stdio::Kind::Default:
      case Stdio::Kind::Inherit:
        break;
    }
  }
  for (int fd : pass_fds) {
    // dup2(fd, fd) in the child clears close-on-exec (glibc >= 2.29; POSIX 2024).
    check(posix_spawn_file_actions_adddup2(fa, fd, fd), "posix_spawn_file_actions_adddup2");
  }
#if ASYNCIO_HAVE_CLOSEFROM_ACTION
  if (options.close_fds) {
    int next = 3;
    for (int keep : pass_fds) {
      for (int fd = next; fd < keep; ++fd) {
        check(posix_spawn_file_actions_addclose(fa, fd), "posix_spawn_file_actions_addclose");
      }
      next = keep + 1;
    }
    check(posix_spawn_file_actions_addclosefrom_np(fa, next),
          "posix_spawn_file_actions_addclosefrom_np");
  }
#endif
  if (options.cwd) {
    check(posix_spawn_file_actions_addchdir_np(fa, options.cwd->c_str()),
          "posix_spawn_file_actions_addchdir_np");
  }

  SpawnAttr attributes;
  posix_spawnattr_t* attr = &attributes.attr;
  short flags = POSIX_SPAWN_SETSIGDEF;
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);  // Python's restore_signals=True
  sigaddset(&defaults, SIGXFSZ);
  check(posix_spawnattr_setsigdefault(attr, &defaults), "posix_spawnattr_setsigdefault");
  if (options.start_new_session) flags |= POSIX_SPAWN_SETSID;
  if (options.process_group && *options.process_group >= 0) {  // negative: none (Python)
    flags |= POSIX_SPAWN_SETPGROUP;
    check(posix_spawnattr_setpgroup(attr, *options.process_group), "posix_spawnattr_setpgroup");
  }
  check(posix_spawnattr_setflags(attr, flags), "posix_spawnattr_setflags");

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> envp;
  char** env = environ;
  if (options.env) {
    env_strings.reserve(options.env->size());
    for (const auto& [key, value] : *options.env) env_strings.push_back(key + "=" + value);
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    env = envp.data();
  }

  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe_path.c_str(), fa, attr, args.data(), env);
  if (rc != 0) throw_spawn_error(rc, exe_name, options);

  SpawnedChild child;
  child.pid = pid;
  child.stdin_fd = parent_fd[0];
  child.stdout_fd = parent_fd[1];
  child.stderr_fd = parent_fd[2];
  for (int fd : parent_fd) {
    if (fd >= 0) parent_ends.release(fd);
  }
  return child;
}

std::vector<std::string> shell_argv(std::string cmd, const SpawnOptions& options) {
  return {options.executable ? *options.executable : std::string("/bin/sh"), "-c", std::move(cmd)};
}

}  // namespace detail
}  // namespace asyncio
