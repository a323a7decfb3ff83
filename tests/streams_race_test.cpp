// StreamReader under concurrent readers (issue 9, defect 2): a reader woken by feed_data() must
// examine the buffer as it is when its task runs, because another task may have read from it
// in between. Every expectation below is what CPython 3.12 returns for the same program
// (the Python program is in each test's comment: A waits, B is scheduled before A's wake-up).

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StreamReader;

namespace {

using ReadFn = Coro<std::string> (*)(StreamReader);

/// A read's outcome as text: the bytes, or the exception with its attributes.
Coro<std::string> describe(ReadFn fn, StreamReader r) {
  try {
    co_return co_await fn(r);
  } catch (const asyncio::IncompleteReadError& e) {
    co_return "IncompleteReadError partial=" + e.partial() +
        " expected=" + (e.expected() ? std::to_string(*e.expected()) : "None");
  } catch (const asyncio::LimitOverrunError& e) {
    co_return "LimitOverrunError " + std::string(e.what()) +
        " consumed=" + std::to_string(e.consumed());
  } catch (const asyncio::ValueError& e) {
    co_return "ValueError " + std::string(e.what());
  }
}

struct Outcome {
  std::string a;
  std::string b;
  std::size_t buffered;
};

/// Python:
///   r = StreamReader(limit); ta = create_task(A(r)); await sleep(0)   # A waits
///   tb = create_task(B(r)); r.feed_data(feeds[0]); 3 x sleep(0)        # B runs before A
///   for f in feeds[1:]: r.feed_data(f); 3 x sleep(0)
///   if eof: r.feed_eof(); 3 x sleep(0)
Coro<Outcome> race(std::size_t limit, ReadFn a, ReadFn b, std::vector<std::string> feeds,
                   bool eof = false) {
  StreamReader r(limit);
  auto ta = asyncio::create_task(describe(a, r));
  co_await asyncio::sleep(0s);
  auto tb = asyncio::create_task(describe(b, r));
  for (const std::string& f : feeds) {
    r.feed_data(f);
    for (int i = 0; i < 3; ++i) co_await asyncio::sleep(0s);
  }
  if (eof) {
    r.feed_eof();
    for (int i = 0; i < 3; ++i) co_await asyncio::sleep(0s);
  }
  EXPECT_TRUE(ta.done());
  EXPECT_TRUE(tb.done());
  if (!ta.done() || !tb.done()) {
    ta.cancel();
    tb.cancel();
    co_return Outcome{"pending", "pending", r.buffered_size()};
  }
  // Named first: GCC 12 double-destroys aggregate temporaries inside a co_await expression.
  std::string a_result = co_await ta;
  std::string b_result = co_await tb;
  co_return Outcome{std::move(a_result), std::move(b_result), r.buffered_size()};
}

Coro<std::string> readline(StreamReader r) {
  co_return co_await r.readline();
}
Coro<std::string> readuntil_nl(StreamReader r) {
  co_return co_await r.readuntil("\n");
}
Coro<std::string> readuntil_crlf(StreamReader r) {
  co_return co_await r.readuntil("\r\n");
}
Coro<std::string> readexactly5(StreamReader r) {
  co_return co_await r.readexactly(5);
}
Coro<std::string> read_all(StreamReader r) {
  co_return co_await r.read(-1);
}
Coro<std::string> readexactly2(StreamReader r) {
  co_return co_await r.readexactly(2);
}
template <int N>
Coro<std::string> read_n(StreamReader r) {
  co_return co_await r.read(N);
}

}  // namespace

// The program: CPython returns the remaining 51 bytes (the stale separator position
// made take() read past the buffer: an AddressSanitizer error).
TEST(StreamReaderRaceTest, ReaduntilRescansAfterAnotherReadTookData) {
  auto o = nettest::run(race(1 << 16, readuntil_nl, read_n<150>, {std::string(200, 'x') + "\n"}));
  EXPECT_EQ(o.b, std::string(150, 'x'));
  EXPECT_EQ(o.a, std::string(50, 'x') + "\n");
  EXPECT_EQ(o.buffered, 0u);
}

// With short data the stale position made buffered_size() wrap around to 2^64-3.
TEST(StreamReaderRaceTest, ReaduntilWithShortDataReturnsWhatIsLeft) {
  auto o = nettest::run(race(1 << 16, readuntil_nl, read_n<2>, {"ab\n"}));
  EXPECT_EQ(o.b, "ab");
  EXPECT_EQ(o.a, "\n");
  EXPECT_EQ(o.buffered, 0u);
}

// B took everything: A waits again and returns the next line.
TEST(StreamReaderRaceTest, ReaduntilWaitsAgainWhenTheBufferWasEmptied) {
  auto o = nettest::run(race(1 << 16, readuntil_nl, read_n<10>, {"ab\n", "cd\n"}));
  EXPECT_EQ(o.b, "ab\n");
  EXPECT_EQ(o.a, "cd\n");
  EXPECT_EQ(o.buffered, 0u);
}

TEST(StreamReaderRaceTest, ReaduntilMultiByteSeparator) {
  auto o = nettest::run(race(1 << 16, readuntil_crlf, read_n<3>, {"abc\r\nde\r\n"}));
  EXPECT_EQ(o.b, "abc");
  EXPECT_EQ(o.a, "\r\n");
  EXPECT_EQ(o.buffered, 4u);
}

// readline() returned the wrong bytes ("c\nde").
TEST(StreamReaderRaceTest, ReadlineReturnsTheLineAsItIsNow) {
  auto o = nettest::run(race(1 << 16, readline, readexactly2, {"abc\ndef\n"}));
  EXPECT_EQ(o.b, "ab");
  EXPECT_EQ(o.a, "c\n");
  EXPECT_EQ(o.buffered, 4u);
}

// readexactly() raised IncompleteReadError without EOF; CPython waits for more.
TEST(StreamReaderRaceTest, ReadexactlyWaitsAgainInsteadOfIncompleteRead) {
  auto o = nettest::run(race(1 << 16, readexactly5, read_n<3>, {"abcde", "fgh"}));
  EXPECT_EQ(o.b, "abc");
  EXPECT_EQ(o.a, "defgh");
  EXPECT_EQ(o.buffered, 0u);
}

TEST(StreamReaderRaceTest, ReadexactlyIncompleteOnlyAtEof) {
  auto o = nettest::run(race(1 << 16, readexactly5, read_n<3>, {"abcde"}, true));
  EXPECT_EQ(o.b, "abc");
  EXPECT_EQ(o.a, "IncompleteReadError partial=de expected=5");
  EXPECT_EQ(o.buffered, 0u);
}

// LimitOverrunError reported the consumed count computed at wake-up (30).
TEST(StreamReaderRaceTest, LimitOverrunConsumedIsCountedWhenTheReaderRuns) {
  auto o = nettest::run(race(10, readuntil_nl, read_n<5>, {std::string(30, 'x')}));
  EXPECT_EQ(o.b, "xxxxx");
  EXPECT_EQ(o.a,
            "LimitOverrunError Separator is not found, and chunk exceed the limit consumed=25");
  EXPECT_EQ(o.buffered, 25u);
}

// At wake-up the line was over the limit; when A runs it fits.
TEST(StreamReaderRaceTest, LimitCheckedAgainstTheBufferWhenTheReaderRuns) {
  auto o = nettest::run(race(10, readuntil_nl, read_n<10>, {std::string(15, 'x') + "\n"}));
  EXPECT_EQ(o.b, std::string(10, 'x'));
  EXPECT_EQ(o.a, "xxxxx\n");
  auto o2 = nettest::run(race(10, readuntil_nl, read_n<15>, {std::string(20, 'x'), "\n"}));
  EXPECT_EQ(o2.b, std::string(15, 'x'));
  EXPECT_EQ(o2.a, "xxxxx\n");
  auto o3 = nettest::run(race(10, readline, read_n<10>, {std::string(15, 'x') + "\nyy"}));
  EXPECT_EQ(o3.b, std::string(10, 'x'));
  EXPECT_EQ(o3.a, "xxxxx\n");
  EXPECT_EQ(o3.buffered, 2u);
}

// Python's read(-1) is a loop of read(limit) until one returns b"": when another reader took
// the data A was woken for, A returns b"" at once, before EOF (the old code waited for EOF).
TEST(StreamReaderRaceTest, ReadAllEndsWhenWokenDataWasTaken) {
  auto o = nettest::run(race(1 << 16, read_all, read_n<100>, {"abc"}));
  EXPECT_EQ(o.b, "abc");
  EXPECT_EQ(o.a, "");
  auto o2 = nettest::run(race(1 << 16, read_all, read_n<2>, {"abc", "de"}, true));
  EXPECT_EQ(o2.b, "ab");
  EXPECT_EQ(o2.a, "cde");
}

// Python: a cancelled reader keeps the waiter slot until its task runs (its `finally`), so a
// reader in between gets RuntimeError; new data frees the slot (and stays buffered).
TEST(StreamReaderRaceTest, CancelledReaderHoldsTheSlotUntilItRuns) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    auto a = asyncio::create_task(readline(r));
    co_await asyncio::sleep(0s);
    a.cancel();
    try {
      co_await r.readline();
      ADD_FAILURE() << "no RuntimeError";
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_STREQ(
          e.what(),
          "readuntil() called while another coroutine is already waiting for incoming data");
    }
    EXPECT_THROW(co_await a, asyncio::CancelledError);
    auto b = asyncio::create_task(readline(r));
    co_await asyncio::sleep(0s);
    r.feed_data("ok\n");
    EXPECT_EQ(co_await b, "ok\n");

    auto a2 = asyncio::create_task(readline(r));
    co_await asyncio::sleep(0s);
    a2.cancel();
    r.feed_data("zz\n");
    EXPECT_EQ(co_await r.read(1), "z");
    EXPECT_THROW(co_await a2, asyncio::CancelledError);
    EXPECT_EQ(r.buffered_size(), 2u);
  }());
}

// Deliberate difference (docs/python-mapping.md): a reader that started waiting while a woken
// reader had not run yet keeps its slot. In CPython the woken reader's `finally` clears the
// slot, so B is never woken again (it hangs); here B gets the next data.
TEST(StreamReaderRaceTest, WokenReaderDoesNotReleaseAnotherReadersSlot) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    auto a = asyncio::create_task(readline(r));
    co_await asyncio::sleep(0s);
    auto b = asyncio::create_task(readexactly5(r));  // runs before A's wake-up: waits
    r.feed_data("ab\n");
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    EXPECT_EQ(co_await a, "ab\n");
    EXPECT_FALSE(b.done());
    r.feed_data("12345");
    EXPECT_EQ(co_await b, "12345");
  }());
}
