// Internal: Happy Eyeballs for create_connection (Python: base_events._interleave_addrinfos,
// staggered.staggered_race and _connect_sock). Not a public header.
#pragma once

#include <exception>
#include <optional>
#include <vector>

#include "asyncio/coroutines.hpp"
#include "asyncio/sockets.hpp"

namespace asyncio::detail {

/// Python: _connect_sock — creates, binds (to a local address of the same family) and
/// connects one socket; an OSError is appended to `exceptions`, then rethrown.
Coro<Socket> connect_sock(const AddrInfo& info,
                          const std::optional<std::vector<AddrInfo>>& local_infos,
                          std::vector<std::exception_ptr>& exceptions);

/// Python: _interleave_addrinfos — groups by family in order of first appearance, takes
/// `first_family_count - 1` of the first family first, then alternates the families.
std::vector<AddrInfo> interleave_addrinfos(std::vector<AddrInfo> infos, int first_family_count);

/// Python: staggered_race over connect_sock attempts. Attempt k+1 starts when attempt k
/// fails or `delay` after attempt k started, whichever is first; earlier attempts keep
/// running. The first connected socket wins (its address in `winner_addr`); every other
/// attempt is cancelled and its socket closed before this returns. When all fail, returns an
/// invalid Socket with the errors appended to `exceptions` in address order. Cancelling it
/// cancels (and waits for) every attempt.
Coro<Socket> happy_eyeballs_connect(const std::vector<AddrInfo>& infos,
                                    std::optional<std::vector<AddrInfo>> local_infos,
                                    Duration delay, std::vector<std::exception_ptr>& exceptions,
                                    SockAddr& winner_addr);

}  // namespace asyncio::detail
