// Seconds (a double, as every public timer API takes them) to the loop's int64 nanoseconds.
//
// The only place a delay or a deadline becomes an integer. Any double is accepted: NaN,
// ±infinity, 1e300, denormals. Results are clamped to ±kMaxTimerNs (2^62 ns, about 146
// years), half the int64 range, so that every later sum or difference of a deadline and a
// clock reading (which is below 2^62 ns of uptime) stays far from overflow.
#pragma once

#include <cstdint>

namespace asyncio::detail {

inline constexpr std::int64_t kMaxTimerNs = std::int64_t{1} << 62;

/// `seconds` in nanoseconds, rounded to nearest and clamped to [-kMaxTimerNs, kMaxTimerNs];
/// NaN gives `if_nan` (each caller says what NaN means for it, as CPython's comparisons do).
constexpr std::int64_t seconds_to_ns(double seconds, std::int64_t if_nan) noexcept {
  if (seconds != seconds) return if_nan;
  const double ns = seconds * 1e9;  // ±inf for huge values, which the clamps below catch
  constexpr double kMax = static_cast<double>(kMaxTimerNs);  // 2^62: exact in a double
  if (ns >= kMax) return kMaxTimerNs;
  if (ns <= -kMax) return -kMaxTimerNs;
  // |ns| < 2^62 here, so the conversion is defined; +-0.5 then truncation rounds half away
  // from zero (llround's rule).
  return static_cast<std::int64_t>(ns < 0 ? ns - 0.5 : ns + 0.5);
}

/// now_ns + delay_ns, clamped to [-kMaxTimerNs, kMaxTimerNs]. Requires |delay_ns| <=
/// kMaxTimerNs and 0 <= now_ns < kMaxTimerNs (the steady clock counts from boot), so the sum
/// itself cannot overflow.
constexpr std::int64_t deadline_ns(std::int64_t now_ns, std::int64_t delay_ns) noexcept {
  const std::int64_t when = now_ns + delay_ns;
  if (when > kMaxTimerNs) return kMaxTimerNs;
  if (when < -kMaxTimerNs) return -kMaxTimerNs;
  return when;
}

}  // namespace asyncio::detail
