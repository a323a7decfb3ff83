// The timer heap against a reference model: random pushes, removals from anywhere and pops
// must always yield the (deadline, scheduling order) minimum, and indices must stay exact.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "asyncio/detail/timer_heap.hpp"

namespace {

using asyncio::detail::TimerEntry;
using asyncio::detail::TimerHeap;

struct Model {
  std::set<std::pair<std::int64_t, std::uint64_t>> keys;  // (deadline, full sequence number)
};

TEST(TimerHeapTest, RandomOperationsMatchAnOrderedSet) {
  constexpr int kEntries = 5000;
  std::vector<TimerEntry> entries(kEntries);
  std::vector<std::uint64_t> full_seq(kEntries);
  TimerHeap heap;
  Model model;
  std::mt19937_64 rng(12345);
  std::uint64_t seq = 0;
  auto index_of = [&](TimerEntry* e) { return static_cast<std::size_t>(e - entries.data()); };
  auto push = [&](std::size_t i) {
    entries[i].when_ns = static_cast<std::int64_t>(rng() % 200);  // many equal deadlines
    full_seq[i] = seq;
    entries[i].seq = static_cast<std::uint32_t>(seq++);
    heap.push(&entries[i]);
    model.keys.insert({entries[i].when_ns, full_seq[i]});
  };
  for (int step = 0; step < 200000; ++step) {
    const std::size_t i = rng() % kEntries;
    const int op = static_cast<int>(rng() % 3);
    if (!entries[i].scheduled()) {
      push(i);
    } else if (op == 0) {
      heap.remove(&entries[i]);
      EXPECT_FALSE(entries[i].scheduled());
      model.keys.erase({entries[i].when_ns, full_seq[i]});
    } else if (op == 1 && !heap.empty()) {
      TimerEntry* top = heap.pop();
      ASSERT_FALSE(model.keys.empty());
      const auto expected = *model.keys.begin();
      EXPECT_EQ(top->when_ns, expected.first);
      EXPECT_EQ(full_seq[index_of(top)], expected.second);
      model.keys.erase(model.keys.begin());
    }
    ASSERT_EQ(heap.size(), model.keys.size());
    if (!heap.empty()) {
      EXPECT_EQ(heap.top_when_ns(), model.keys.begin()->first);
    }
  }
  while (!heap.empty()) {
    TimerEntry* top = heap.pop();
    EXPECT_EQ(full_seq[index_of(top)], model.keys.begin()->second);
    model.keys.erase(model.keys.begin());
  }
  EXPECT_TRUE(model.keys.empty());
}

// Sequence numbers are 32 bits and compared modulo 2^32: order survives the wrap.
TEST(TimerHeapTest, EqualDeadlinesKeepSchedulingOrderAcrossSequenceWrap) {
  std::vector<TimerEntry> entries(6);
  TimerHeap heap;
  std::uint32_t seq = UINT32_MAX - 2;
  for (auto& e : entries) {
    e.when_ns = 7;
    e.seq = seq++;  // ..., UINT32_MAX, 0, 1, 2
  }
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) heap.push(&*it);
  for (auto& e : entries) EXPECT_EQ(heap.pop(), &e);
  EXPECT_TRUE(heap.empty());
}

TEST(TimerHeapTest, ShrinkGivesBackAnEmptiedBurst) {
  std::vector<TimerEntry> entries(5000);
  TimerHeap heap;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    entries[i].when_ns = static_cast<std::int64_t>(i);
    heap.push(&entries[i]);
  }
  for (auto& e : entries) heap.remove(&e);
  EXPECT_TRUE(heap.empty());
  heap.shrink();
  heap.push(&entries[0]);
  EXPECT_EQ(heap.top(), &entries[0]);
}

}  // namespace
