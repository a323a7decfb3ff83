// Fuzz target: asyncio::StreamReader against a reference model of CPython 3.12's StreamReader
// (Lib/asyncio/streams.py) and of the event loop's FIFO ready queue.
//
// The input is decoded into a schedule run by a driver task on a real event loop:
// feed_data() with arbitrary chunks (including empty ones and after EOF), feed_eof(),
// set_exception(), new reader tasks (read(n), read(-1), read(0), readinto() of n >= 0 bytes,
// readline(), readuntil() with one- and multi-byte separators, readexactly()), cancellation of
// reader tasks, and sleep(0) (one loop iteration) between operations. The model runs the same
// schedule: CPython's read algorithms as resumable state machines (readuntil keeps its `offset`
// across waits, read(-1) is a loop of read(limit), every read re-examines the buffer when its task
// runs), the single waiter slot (_waiter) with RuntimeError for a second waiter, and tasks
// scheduled in FIFO order (create_task, a waiter's wake-up, cancel() of a waiting task and sleep(0)
// all append to the ready queue). After every operation the library and the model must agree on the
// buffer size, EOF, the exception, and on which tasks are done and with what result (bytes, or
// exception type and attributes: IncompleteReadError partial/expected, LimitOverrunError consumed,
// messages). A mismatch aborts with a description.
//
// The model follows CPython exactly except for one deliberate difference of the library
// (docs/python-mapping.md): the waiter slot is released only by the coroutine that holds it.
// (CPython's `finally: self._waiter = None` in _wait_for_data also clears the slot of a reader
// that started waiting after this one was woken, which then never wakes up again.)

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "stream_reader_fuzz: model mismatch: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

/// The error given to set_exception(); `id` tells which call it came from.
struct FuzzError : std::runtime_error {
  explicit FuzzError(int i) : std::runtime_error("fuzz error " + std::to_string(i)), id(i) {}
  int id;
};

// ---- Operations and outcomes ---------------------------------------------------------------

/// ReadInto is StreamReader::readinto() (a C++ addition): the model is read(n) for n >= 0.
enum class Kind : std::uint8_t { Read, ReadInto, ReadExactly, ReadUntil, ReadLine };

struct ReadOp {
  ReadOp(Kind k, std::ptrdiff_t count = 0, std::string separator = {})
      : kind(k), n(count), sep(std::move(separator)) {}
  Kind kind;
  std::ptrdiff_t n = 0;  // read / readexactly
  std::string sep;       // readuntil
};

std::string show(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string show(const ReadOp& op) {
  switch (op.kind) {
    case Kind::Read:
      return "read(" + std::to_string(op.n) + ")";
    case Kind::ReadInto:
      return "readinto(" + std::to_string(op.n) + " bytes)";
    case Kind::ReadExactly:
      return "readexactly(" + std::to_string(op.n) + ")";
    case Kind::ReadUntil:
      return "readuntil(" + show(op.sep) + ")";
    case Kind::ReadLine:
      return "readline()";
  }
  return "?";
}

struct Outcome {
  enum Type : std::uint8_t { Bytes, Incomplete, LimitOverrun, Value, Runtime, Error, Cancelled };
  Outcome() = default;
  Outcome(Type t, std::string d = {}, std::optional<std::size_t> e = std::nullopt,
          std::size_t num = 0)
      : type(t), data(std::move(d)), expected(e), number(num) {}
  Type type = Bytes;
  std::string data;                     // bytes, partial, or message
  std::optional<std::size_t> expected;  // IncompleteReadError.expected
  std::size_t number = 0;               // LimitOverrunError.consumed, FuzzError id

  bool operator==(const Outcome&) const = default;
  std::string str() const {
    switch (type) {
      case Bytes:
        return "bytes " + show(data);
      case Incomplete:
        return "IncompleteReadError(partial=" + show(data) +
               ", expected=" + (expected ? std::to_string(*expected) : "None") + ")";
      case LimitOverrun:
        return "LimitOverrunError(" + show(data) + ", consumed=" + std::to_string(number) + ")";
      case Value:
        return "ValueError(" + show(data) + ")";
      case Runtime:
        return "RuntimeError(" + show(data) + ")";
      case Error:
        return "FuzzError " + std::to_string(number);
      case Cancelled:
        return "CancelledError";
    }
    return "?";
  }
};

// ---- The reference model ---------------------------------------------------------------------

constexpr int kDriver = -1;

class Model {
 public:
  explicit Model(std::size_t limit) : limit_(limit) {}

  enum class State : std::uint8_t { NotStarted, Waiting, Woken, CancelledWaiting, Done };
  struct Task {
    explicit Task(ReadOp o) : op(std::move(o)) {}
    ReadOp op;
    State state = State::NotStarted;
    bool must_cancel = false;
    int woken_error = 0;     // set_exception() woke it: raise that error
    std::size_t offset = 0;  // readuntil's offset, kept across waits (CPython)
    std::string all;         // read(-1): blocks read so far
    Outcome outcome;
  };

  std::string buf;
  bool eof = false;
  int error = 0;  // id of the exception set, 0 = none
  std::optional<int> waiter;
  std::vector<Task> tasks;

  /// Returns the RuntimeError message if feed_data raises.
  std::optional<std::string> feed_data(const std::string& d) {
    if (eof) return "feed_data after feed_eof";
    if (d.empty()) return std::nullopt;  // CPython returns before waking anyone
    buf += d;
    wakeup(0);
    return std::nullopt;
  }
  void feed_eof() {
    eof = true;
    wakeup(0);
  }
  void set_exception(int id) {
    error = id;
    wakeup(id);
  }
  void spawn(ReadOp op) {
    tasks.emplace_back(std::move(op));
    ready_.push_back(static_cast<int>(tasks.size()) - 1);
  }
  void cancel(int t) {
    Task& k = tasks[t];
    switch (k.state) {
      case State::Done:
        return;
      case State::Waiting:  // the waiter future is cancelled: the task is scheduled
        k.state = State::CancelledWaiting;
        ready_.push_back(t);
        return;
      case State::NotStarted:
      case State::Woken:
      case State::CancelledWaiting:
        k.must_cancel = true;
        return;
    }
  }
  /// The driver yields (sleep(0)): run the ready queue until the driver's turn comes.
  void yield_driver() {
    ready_.push_back(kDriver);
    while (true) {
      int t = ready_.front();
      ready_.pop_front();
      if (t == kDriver) return;
      step(t);
    }
  }

 private:
  // Python's _wakeup_waiter() / set_exception(): free the slot, wake unless cancelled.
  void wakeup(int error_id) {
    if (!waiter) return;
    int t = *waiter;
    waiter.reset();
    Task& k = tasks[t];
    if (k.state != State::Waiting) return;  // cancelled already
    k.state = State::Woken;
    k.woken_error = error_id;
    ready_.push_back(t);
  }

  void finish(Task& k, Outcome o) {
    k.state = State::Done;
    k.outcome = std::move(o);
  }

  void step(int t) {
    Task& k = tasks[t];
    switch (k.state) {
      case State::NotStarted:
        if (k.must_cancel) return finish(k, {Outcome::Cancelled});
        return run(t, true);
      case State::CancelledWaiting:
        if (waiter == t) waiter.reset();  // `finally: self._waiter = None` (own slot only)
        return finish(k, {Outcome::Cancelled});
      case State::Woken:
        if (k.must_cancel) return finish(k, {Outcome::Cancelled});
        if (k.woken_error) return finish(k, {Outcome::Error, {}, {}, std::size_t(k.woken_error)});
        return run(t, false);
      case State::Waiting:
      case State::Done:
        fail("model: stepped a task that is not scheduled");
    }
  }

  /// Python's _wait_for_data(func): false (and the task finished) if the slot is taken.
  bool wait(int t, const char* func) {
    Task& k = tasks[t];
    if (waiter) {
      finish(k, {Outcome::Runtime,
                 std::string(func) +
                     "() called while another coroutine is already waiting for incoming data"});
      return false;
    }
    waiter = t;
    k.state = State::Waiting;
    return true;
  }

  std::string take(std::size_t n) {
    std::string out = buf.substr(0, n);
    buf.erase(0, n);
    return out;
  }

  /// Runs the task's read from its start (`first`) or from the point after its wait.
  void run(int t, bool first) {
    Task& k = tasks[t];
    const ReadOp& op = k.op;
    const Outcome raised{Outcome::Error, {}, {}, std::size_t(error)};
    switch (op.kind) {
      case Kind::Read:
      case Kind::ReadInto: {
        if (first) {
          if (error) return finish(k, raised);
          if (op.n == 0) return finish(k, {Outcome::Bytes, ""});
        }
        if (op.n > 0) {
          if (first && buf.empty() && !eof) {
            wait(t, op.kind == Kind::ReadInto ? "readinto" : "read");
            return;
          }
          return finish(k, {Outcome::Bytes, take(std::size_t(op.n))});
        }
        // read(-1): read(limit) until it returns b"".
        if (!first) {
          std::string block = take(buf.size());
          if (block.empty()) return finish(k, {Outcome::Bytes, k.all});
          k.all += block;
        }
        while (true) {
          if (error) return finish(k, raised);
          if (buf.empty() && !eof) {
            wait(t, "read");
            return;
          }
          std::string block = take(buf.size());
          if (block.empty()) return finish(k, {Outcome::Bytes, k.all});
          k.all += block;
        }
      }
      case Kind::ReadExactly: {
        const auto n = std::size_t(op.n);
        if (first) {
          if (error) return finish(k, raised);
          if (n == 0) return finish(k, {Outcome::Bytes, ""});
        }
        if (buf.size() < n) {
          if (eof) return finish(k, {Outcome::Incomplete, take(buf.size()), n});
          wait(t, "readexactly");
          return;
        }
        return finish(k, {Outcome::Bytes, take(n)});
      }
      case Kind::ReadUntil:
      case Kind::ReadLine: {
        const bool line = op.kind == Kind::ReadLine;
        const std::string& sep = op.sep;
        if (first) {
          if (error) return finish(k, raised);
          k.offset = 0;
        }
        std::size_t isep;
        while (true) {
          const std::size_t buflen = buf.size();
          if (buflen >= k.offset + sep.size()) {
            isep = buf.find(sep, k.offset);
            if (isep != std::string::npos) break;
            k.offset = buflen + 1 - sep.size();
            if (k.offset > limit_) {
              return overrun(k, "Separator is not found, and chunk exceed the limit", k.offset,
                             line);
            }
          }
          if (eof) {
            std::string partial = take(buf.size());
            if (line) return finish(k, {Outcome::Bytes, partial});
            return finish(k, {Outcome::Incomplete, partial, std::nullopt});
          }
          wait(t, "readuntil");
          return;
        }
        if (isep > limit_) {
          return overrun(k, "Separator is found, but chunk is longer than limit", isep, line);
        }
        return finish(k, {Outcome::Bytes, take(isep + sep.size())});
      }
    }
  }

  void overrun(Task& k, const char* message, std::size_t consumed, bool line) {
    if (!line) return finish(k, {Outcome::LimitOverrun, message, {}, consumed});
    // readline(): drop the line through its separator, or the whole buffer.
    if (consumed <= buf.size() && buf.compare(consumed, 1, "\n") == 0) {
      buf.erase(0, consumed + 1);
    } else {
      buf.clear();
    }
    finish(k, {Outcome::Value, message});
  }

  std::size_t limit_;
  std::deque<int> ready_;
};

// ---- The library side ------------------------------------------------------------------------

struct LibTask {
  asyncio::Task<void> task;
  std::shared_ptr<std::optional<Outcome>> result;
};

asyncio::Coro<std::string> do_read(asyncio::StreamReader& r, const ReadOp& op) {
  switch (op.kind) {
    case Kind::Read:
      co_return co_await r.read(op.n);
    case Kind::ReadInto: {
      std::string buf(std::size_t(op.n), '\0');
      const std::size_t got = co_await r.readinto(buf);
      buf.resize(got);
      co_return buf;
    }
    case Kind::ReadExactly:
      co_return co_await r.readexactly(std::size_t(op.n));
    case Kind::ReadUntil:
      co_return co_await r.readuntil(op.sep);
    case Kind::ReadLine:
      co_return co_await r.readline();
  }
  co_return "";
}

asyncio::Coro<void> reader_task(asyncio::StreamReader r, ReadOp op,
                                std::shared_ptr<std::optional<Outcome>> out) {
  try {
    *out = Outcome{Outcome::Bytes, co_await do_read(r, op)};
  } catch (const asyncio::IncompleteReadError& e) {
    *out = Outcome{Outcome::Incomplete, e.partial(), e.expected()};
  } catch (const asyncio::LimitOverrunError& e) {
    *out = Outcome{Outcome::LimitOverrun, e.what(), {}, e.consumed()};
  } catch (const asyncio::ValueError& e) {
    *out = Outcome{Outcome::Value, e.what()};
  } catch (const asyncio::RuntimeError& e) {
    *out = Outcome{Outcome::Runtime, e.what()};
  } catch (const FuzzError& e) {
    *out = Outcome{Outcome::Error, {}, {}, std::size_t(e.id)};
  } catch (const asyncio::CancelledError&) {
    *out = Outcome{Outcome::Cancelled};
  } catch (const std::exception& e) {
    fail(show(op) + " raised an unexpected exception: " + e.what());
  }
}

// ---- Input decoding --------------------------------------------------------------------------

class Input {
 public:
  Input(const std::uint8_t* d, std::size_t n) : d_(d), n_(n) {}
  bool empty() const { return i_ >= n_; }
  std::uint8_t byte() { return i_ < n_ ? d_[i_++] : 0; }

 private:
  const std::uint8_t* d_;
  std::size_t n_;
  std::size_t i_ = 0;
};

ReadOp decode_read(Input& in) {
  static const char* const seps[] = {"\n", "\r\n", "ab", "aba", "xx\n", "b", "\n\n", "abab"};
  const std::uint8_t b = in.byte();
  switch (b % 4) {
    case 0: {
      static const std::ptrdiff_t sizes[] = {-1, 0, 1, 2, 3, 5, 8, 13, 100};
      const std::uint8_t k = in.byte();
      const std::ptrdiff_t n = sizes[k % 9];
      // The high bit picks readinto() for the sizes it takes (n >= 0).
      if (k >= 128 && n >= 0) return {Kind::ReadInto, n};
      return {Kind::Read, n};
    }
    case 1:
      return {Kind::ReadExactly, std::ptrdiff_t(in.byte() % 24)};
    case 2:
      return {Kind::ReadUntil, 0, seps[in.byte() % 8]};
    default:
      return {Kind::ReadLine, 0, "\n"};
  }
}

std::string decode_chunk(Input& in) {
  static const char alphabet[] = {'a', 'b', '\n', 'x', '\r', 'a', 'b', '\n'};
  std::size_t len = in.byte() % 24;
  std::string s;
  for (std::size_t i = 0; i < len && !in.empty(); ++i) s += alphabet[in.byte() % 8];
  return s;
}

// ---- The driver ------------------------------------------------------------------------------

void compare(const asyncio::StreamReader& r, const Model& m, const std::vector<LibTask>& tasks,
             const std::string& after) {
  if (r.buffered_size() != m.buf.size()) {
    fail("after " + after + ": buffered_size() " + std::to_string(r.buffered_size()) + ", model " +
         std::to_string(m.buf.size()));
  }
  if (r.at_eof() != (m.eof && m.buf.empty())) fail("after " + after + ": at_eof() differs");
  if ((r.exception() != nullptr) != (m.error != 0)) fail("after " + after + ": exception differs");
  for (std::size_t i = 0; i < tasks.size(); ++i) {
    const LibTask& lt = tasks[i];
    const Model::Task& mt = m.tasks[i];
    const bool model_done = mt.state == Model::State::Done;
    if (lt.task.done() != model_done) {
      fail("after " + after + ": task " + std::to_string(i) + " " + show(mt.op) + " is " +
           (lt.task.done() ? "done" : "pending") +
           ", model: " + (model_done ? "done with " + mt.outcome.str() : "pending"));
    }
    if (!model_done) continue;
    // A task cancelled before it started never runs its body.
    Outcome got = lt.result->has_value() ? **lt.result : Outcome{Outcome::Cancelled};
    if (lt.task.cancelled() != !lt.result->has_value()) fail("task cancelled state differs");
    if (!(got == mt.outcome)) {
      fail("after " + after + ": task " + std::to_string(i) + " " + show(mt.op) + " got " +
           got.str() + ", model (CPython) " + mt.outcome.str());
    }
  }
}

asyncio::Coro<void> drive(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  static const std::size_t limits[] = {1, 2, 3, 4, 5, 8, 16, 65536};
  const std::size_t limit = limits[in.byte() % 8];
  asyncio::StreamReader r(limit);
  Model m(limit);
  std::vector<LibTask> tasks;
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  int errors = 0;
  std::string log;  // the schedule so far, for the failure message

  for (int steps = 0; !in.empty() && steps < 200; ++steps) {
    const std::uint8_t op = in.byte();
    switch (op % 8) {
      case 0:
      case 1: {
        std::string chunk = decode_chunk(in);
        log += "feed_data(" + show(chunk) + "); ";
        std::optional<std::string> lib_error;
        try {
          r.feed_data(chunk);
        } catch (const asyncio::RuntimeError& e) {
          lib_error = e.what();
        }
        if (lib_error != m.feed_data(chunk)) fail(log + ": feed_data's error differs");
        break;
      }
      case 2:
        log += "feed_eof(); ";
        r.feed_eof();
        m.feed_eof();
        break;
      case 3:
        if (op & 0x80) {  // rarer than the others
          ++errors;
          log += "set_exception(" + std::to_string(errors) + "); ";
          r.set_exception(std::make_exception_ptr(FuzzError(errors)));
          m.set_exception(errors);
        }
        break;
      case 4:
      case 5: {
        if (tasks.size() >= 48) break;
        ReadOp rop = decode_read(in);
        log += "task" + std::to_string(tasks.size()) + "=" + show(rop) + "; ";
        auto result = std::make_shared<std::optional<Outcome>>();
        tasks.push_back(LibTask{loop.create_task(reader_task(r, rop, result)), result});
        m.spawn(std::move(rop));
        break;
      }
      case 6: {
        const int n = 1 + in.byte() % 3;
        log += "sleep(0)x" + std::to_string(n) + "; ";
        for (int i = 0; i < n; ++i) {
          co_await asyncio::sleep(0s);
          m.yield_driver();
        }
        break;
      }
      case 7: {
        if (tasks.empty()) break;
        const std::size_t t = in.byte() % tasks.size();
        log += "cancel(task" + std::to_string(t) + "); ";
        tasks[t].task.cancel();
        m.cancel(int(t));
        break;
      }
    }
    compare(r, m, tasks, log);
  }
  // Let everything settle, then cancel what still waits (a read may wait forever, as in Python).
  for (int i = 0; i < 3; ++i) {
    co_await asyncio::sleep(0s);
    m.yield_driver();
  }
  compare(r, m, tasks, log + "[settle]");
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    tasks[t].task.cancel();
    m.cancel(int(t));
  }
  for (int i = 0; i < 3; ++i) {
    co_await asyncio::sleep(0s);
    m.yield_driver();
  }
  compare(r, m, tasks, log + "[cancel all]");
  for (const LibTask& t : tasks) {
    if (!t.task.done()) fail("a reader task survived cancellation");
  }
}

asyncio::Runner& runner() {
  static asyncio::Runner r;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  runner().run(drive(data, size));
  return 0;
}
