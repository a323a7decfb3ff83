// The sock= forms of open_connection, start_server, open_unix_connection and
// start_unix_server (Python: asyncio.streams with sock=...). Built on the public stream
// pieces (make_stream_reader_protocol / make_stream_writer) and the sock= forms of the
// loop's create_* functions, which do Python's socket checks.

#include <memory>
#include <utility>

#include "asyncio/streams.hpp"

namespace asyncio {

namespace {

/// Python's open_connection body once the transport exists: the reader, its protocol (the
/// one the factory hands out) and a writer over the transport.
struct StreamParts {
  StreamReader reader;
  std::shared_ptr<Protocol> protocol;
};

StreamParts make_parts(std::size_t limit) {
  if (limit == 0) throw ValueError("Limit cannot be <= 0");
  StreamReader reader(limit);
  std::shared_ptr<Protocol> protocol = make_stream_reader_protocol(reader);
  return {std::move(reader), std::move(protocol)};
}

Coro<std::pair<StreamReader, StreamWriter>> finish_streams(
    Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>> connecting,
    StreamReader reader) {
  auto [transport, protocol] = co_await std::move(connecting);
  StreamWriter writer = make_stream_writer(std::move(transport), std::move(protocol), reader);
  co_return std::pair{std::move(reader), std::move(writer)};
}

}  // namespace

Coro<std::pair<StreamReader, StreamWriter>> open_connection(Socket sock, ConnectionOptions opts,
                                                            std::size_t limit) {
  StreamParts parts = make_parts(limit);
  auto protocol = parts.protocol;
  return finish_streams(create_connection([protocol] { return protocol; }, std::move(sock), opts),
                        std::move(parts.reader));
}

Coro<std::pair<StreamReader, StreamWriter>> open_unix_connection(Socket sock,
                                                                 UnixConnectionOptions opts,
                                                                 std::size_t limit) {
  StreamParts parts = make_parts(limit);
  auto protocol = parts.protocol;
  return finish_streams(
      create_unix_connection([protocol] { return protocol; }, std::move(sock), opts),
      std::move(parts.reader));
}

Coro<Server> start_server(ClientConnectedCallback client_connected_cb, Socket sock,
                          ServerOptions opts, std::size_t limit) {
  return create_server(detail::stream_factory(std::move(client_connected_cb), limit),
                       std::move(sock), opts);
}

Coro<Server> start_unix_server(ClientConnectedCallback client_connected_cb, Socket sock,
                               UnixServerOptions opts, std::size_t limit) {
  return create_unix_server(detail::stream_factory(std::move(client_connected_cb), limit),
                            std::move(sock), opts);
}

}  // namespace asyncio
