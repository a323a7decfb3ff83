// socketpair() and Python's socket repr (Python: socket.socketpair, socket.socket.__repr__).

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <utility>

#include "asyncio/sockets.hpp"

namespace asyncio {

std::pair<Socket, Socket> socketpair(int family, int type, int proto) {
  int fds[2];
  if (::socketpair(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, proto, fds) != 0) {
    throw_os_error(errno);
  }
  return {Socket(fds[0]), Socket(fds[1])};
}

namespace {
/// Python prints the address with str(): a tuple for IP families, the bare path for AF_UNIX.
std::string address_text(const SockAddr& a) {
  if (a.family() == AF_UNIX) return a.path();
  return a.to_string();
}
}  // namespace

std::string socket_repr(const Socket& sock) {
  if (!sock) return "<socket.socket [closed] fd=-1, family=0, type=0, proto=0>";
  std::string r = "<socket.socket fd=" + std::to_string(sock.fd());
  int family = 0, type = 0, proto = 0;
  try {
    family = sock.family();
    type = sock.type();
    proto = sock.getsockopt(SOL_SOCKET, SO_PROTOCOL);
    // Python prints the protocol given to socket(), usually 0 (the family's default); the
    // kernel reports the protocol it chose. Print 0 for that default, as Python would for
    // socket.socket(family, type).
    if ((type == SOCK_STREAM && proto == IPPROTO_TCP) ||
        (type == SOCK_DGRAM && proto == IPPROTO_UDP)) {
      proto = 0;
    }
  } catch (const std::system_error&) {
    // Not a socket (or closed behind our back): print what we could read, as Python does.
  }
  r += ", family=" + std::to_string(family) + ", type=" + std::to_string(type) +
       ", proto=" + std::to_string(proto);
  // Python omits an address that is empty (an unnamed AF_UNIX socket) or unavailable.
  try {
    std::string laddr = address_text(sock.getsockname());
    if (!laddr.empty()) r += ", laddr=" + laddr;
  } catch (const std::system_error&) {
  }
  try {
    std::string raddr = address_text(sock.getpeername());
    if (!raddr.empty()) r += ", raddr=" + raddr;
  } catch (const std::system_error&) {
  }
  return r + ">";
}

}  // namespace asyncio
